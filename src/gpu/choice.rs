//! `--device cpu|cuda[:N]|auto`: which device runs a model.

use candle_core::Device;

/// Where a command runs its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The first GPU in a build with CUDA when one is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA device N (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl DeviceChoice {
    /// Parse `cpu`, `cuda`, `cuda:N` or `auto`.
    pub fn parse(s: &str) -> Result<DeviceChoice, String> {
        match s.trim() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!("{s:?}: expected cpu, cuda, cuda:N or auto")),
            },
        }
    }

    /// The device, or why it cannot be had: a CUDA device in a build without CUDA, or one
    /// the driver does not find.
    pub fn open(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(first_gpu().unwrap_or(Device::Cpu)),
            DeviceChoice::Cuda(n) => open_cuda(n),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> Result<Device, String> {
    Device::new_cuda(n).map_err(|e| {
        format!(
            "cuda:{n}: {}",
            crate::model::candle_message(&e)
                .lines()
                .next()
                .unwrap_or("no such device")
        )
    })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(n: usize) -> Result<Device, String> {
    Err(format!(
        "cuda:{n}: this memento was built without CUDA; build the GPU binary with scripts/build-cuda"
    ))
}

/// The first GPU, when this build has CUDA and the machine a GPU.
fn first_gpu() -> Option<Device> {
    if cfg!(feature = "cuda") {
        open_cuda(0).ok()
    } else {
        None
    }
}

/// How the status bar and reports name a device: `cpu`, or `cuda:0 NVIDIA H200`.
pub fn describe_device(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let ordinal = d.cuda_stream().context().ordinal();
            match d.cuda_stream().context().name() {
                Ok(name) => format!("cuda:{ordinal} {name}"),
                Err(_) => format!("cuda:{ordinal}"),
            }
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        assert_eq!(DeviceChoice::parse("cpu"), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::parse("auto"), Ok(DeviceChoice::Auto));
        assert_eq!(DeviceChoice::parse("cuda"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("cuda:3"), Ok(DeviceChoice::Cuda(3)));
        for bad in ["", "cuda:", "cuda:x", "tpu", "cuda:-1"] {
            let e = DeviceChoice::parse(bad).unwrap_err();
            assert!(e.contains("expected cpu, cuda, cuda:N or auto"), "{e}");
        }
    }

    #[test]
    fn cpu_and_auto_open_without_a_gpu() {
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            assert!(DeviceChoice::Auto.open().unwrap().is_cpu());
            let e = DeviceChoice::Cuda(0).open().unwrap_err();
            assert!(
                e.contains("built without CUDA") && e.contains("scripts/build-cuda"),
                "{e}"
            );
        }
        assert_eq!(describe_device(&Device::Cpu), "cpu");
    }
}
