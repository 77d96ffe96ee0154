//! Keyset pagination: stores are asked for one row more than a page holds; if it comes, there
//! is a next page, which starts after the last row shown.

/// Trims `items` (fetched with `limit + 1`) to the page and returns the next cursor, if any.
pub fn split<T, K>(mut items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    if items.len() as i64 > limit {
        items.truncate(limit as usize);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        assert_eq!(super::split(vec![1, 2, 3], 2, |n| *n), (vec![1, 2], Some(2)));
        assert_eq!(super::split(vec![1, 2], 2, |n| *n), (vec![1, 2], None));
        assert_eq!(super::split(Vec::<i32>::new(), 2, |n| *n), (vec![], None));
    }
}
