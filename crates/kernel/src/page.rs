//! One page bound for every list: the domain clamps to it and the API's cursor logic
//! reads it, so a full page and a last page are told apart the same way everywhere.

/// Most rows one page returns.
pub const MAX_PAGE: u32 = 500;

/// Rows a list returns when the caller does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// The rows a page may hold for a requested `limit`: 1 to [`MAX_PAGE`].
pub fn page_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}
