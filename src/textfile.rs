//! Reading the files users bring as tools save them: only regular files (a FIFO with no writer
//! or `/dev/zero` would block or never end), never more than a stated size, a UTF-8 byte-order
//! mark dropped and Windows line ends (`\r\n`) read as `\n`.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The most a JSON config, index or small text input may hold (16 MiB).
pub const CONFIG_LIMIT: u64 = 16 << 20;
/// The most a prompt file may hold (4 MiB: far beyond any model's context).
pub const PROMPT_LIMIT: u64 = 4 << 20;
/// The most a problem set, task or theme file may hold (64 MiB).
pub const DATA_LIMIT: u64 = 64 << 20;

/// Open `path` for reading if it is a regular file; a FIFO, socket or device is refused by kind
/// before it is opened (opening a FIFO with no writer would block), as `InvalidInput`.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let meta = std::fs::metadata(path)?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory, not a file",
        ));
    }
    if !kind.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "is {}, not a regular file; memento reads its inputs from regular files",
                special_kind(&kind)
            ),
        ));
    }
    File::open(path)
}

/// Read at most `limit` bytes of `path` as text: refused if it is larger, not a regular file or
/// not UTF-8 (with the byte offset); a byte-order mark is dropped and `\r\n` becomes `\n`.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    let bytes = read_bounded(path, limit)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text: invalid byte at offset {}",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(normalize(&text))
}

/// Read at most `limit` bytes of `path`; refused if it holds more.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = open_regular(path).map_err(|e| io_message(&e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_message(&e))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "larger than the {} limit for this kind of file",
            human_bytes(limit)
        ));
    }
    Ok(bytes)
}

/// The UTF-8 byte-order mark that some editors put before a file's text.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Drop a leading byte-order mark and turn `\r\n` line ends into `\n`.
pub fn normalize(text: &str) -> String {
    String::from_utf8(normalize_bytes(text.as_bytes().to_vec()))
        .expect("dropping a BOM and the CR of CRLF keeps UTF-8 valid")
}

/// [`normalize`] for bytes that may not be UTF-8: a leading byte-order mark dropped and every
/// `\r\n` turned into `\n`.
pub fn normalize_bytes(bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    if !body.windows(2).any(|w| w == b"\r\n") {
        return if body.len() == bytes.len() {
            bytes
        } else {
            body.to_vec()
        };
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\r' && body.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// A prompt as an editor saves it: [`normalize`]d, and the one newline that ends the file's
/// last line dropped (it is the file's, not the prompt's).
pub fn prompt_text(text: &str) -> String {
    let mut text = normalize(text);
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_crlf_are_read_as_plain_text() {
        assert_eq!(normalize("\u{feff}a\r\nb\r\n"), "a\nb\n");
        assert_eq!(prompt_text("\u{feff}What is 2+2?\r\n"), "What is 2+2?");
        assert_eq!(
            prompt_text("line one\nline two\n\n"),
            "line one\nline two\n"
        );
        assert_eq!(prompt_text("no newline"), "no newline");
        assert_eq!(normalize_bytes(b"\xEF\xBB\xBFa\r\nb\r".to_vec()), b"a\nb\r");
        assert_eq!(normalize_bytes(b"\xff\r\n".to_vec()), b"\xff\n");
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let err = read_text(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(err.contains("character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_text(&fifo, 1024).unwrap_err();
        assert!(err.contains("FIFO"), "{err}");
        let err = read_text(dir.path(), 1024).unwrap_err();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        assert!(read_text(&path, 2048).is_ok());
        let err = read_text(&path, 2047).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        std::fs::write(&path, b"ok\xff").unwrap();
        let err = read_text(&path, 2047).unwrap_err();
        assert!(err.contains("offset 2"), "{err}");
    }
}
