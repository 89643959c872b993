//! Why a CBOR file does not decode, in words.

/// Why a CBOR file folio wrote does not decode, in words: ciborium's own message for a file
/// that ends early is Rust's debug form of the I/O error.
pub fn cbor_reason(error: &ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match error {
        Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => "the file ends early".into(),
        Error::Io(e) => e.to_string(),
        Error::Syntax(offset) => format!("not CBOR at byte {offset}"),
        Error::Semantic(Some(offset), reason) => format!("{reason} at byte {offset}"),
        Error::Semantic(None, reason) => reason.clone(),
        Error::RecursionLimitExceeded => "nested too deeply".into(),
    }
}
