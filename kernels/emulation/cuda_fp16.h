// Empty: cuda_host.h defines the half types.
