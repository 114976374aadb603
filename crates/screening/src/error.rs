//! Why a list file is refused: always whole, with the line that broke it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// A line does not have the columns its format has.
    #[error("{file} line {line}: {found} columns, expected {expected}")]
    Columns {
        file: &'static str,
        line: u64,
        found: usize,
        expected: usize,
    },
    /// Not UTF-8, an unterminated quote, or another broken CSV line.
    #[error("{file} line {line}: {reason}")]
    Malformed {
        file: &'static str,
        line: u64,
        reason: String,
    },
    /// A field that must hold a value does not (an entity number, a name).
    #[error("{file} line {line}: {field} is {reason}")]
    Field {
        file: &'static str,
        line: u64,
        field: &'static str,
        reason: String,
    },
    /// The file holds nothing.
    #[error("{0} holds no entries")]
    Empty(&'static str),
}
