//! Cursor paging for lists, as Relay connections built from async-graphql's `connection`
//! module: the `first`/`after` arguments, checked one way for every list (and for
//! `SourceStatus.itemCount`'s look-ahead); opaque cursors holding an item's place in its list's
//! documented order (never an offset, so a page after a cursor stays right when an item arrives
//! at the top); and a page cut from a list already in that order ([`page_of`]), or made by a store
//! that pages itself ([`Page`] with [`cursor`]).
//!
//! A list becomes a connection with a key type (its order: [`NewestFirst`] or its own `Ord`), a
//! name for its cursors, and a call to [`page_of`].

use std::cmp::{Ordering, Reverse};

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor};
use async_graphql::{OutputType, Result, SimpleObject};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{coded_error, codes};

/// Items in a page when `first` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// The most items one page may ask for.
pub const MAX_PAGE: usize = 500;

/// An item's place in its list's order, as a cursor holds it: the list's name (so that one
/// list's cursor is refused by another rather than read as a place in it) and the item's key.
#[derive(Serialize, Deserialize)]
pub struct Place<K> {
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "k")]
    key: K,
}

/// A cursor: the place as JSON, base64url (async-graphql's opaque cursor).
pub type Cursor<K> = OpaqueCursor<Place<K>>;

/// What a connection has besides `edges`, `nodes` and `pageInfo`.
#[derive(SimpleObject)]
pub struct Totals {
    /// The items in the list under its filters (its arguments other than `first` and
    /// `after`): in all its pages, not only in this one.
    pub total_count: usize,
}

/// One page of a list, keyed by `K`, of nodes `N`.
pub type Page<K, N> = Connection<Cursor<K>, N, Totals, EmptyFields>;

/// The cursor of the item at `key` in `list`.
pub fn cursor<K>(list: &str, key: K) -> Cursor<K> {
    OpaqueCursor(Place {
        list: list.to_owned(),
        key,
    })
}

/// A page's checked arguments: how many items, after which place.
pub struct PageArgs<K> {
    pub size: usize,
    pub after: Option<K>,
}

/// `first` and `after` of `list`, checked: `first` from 0 to [`MAX_PAGE`] ([`DEFAULT_PAGE`] when
/// not given) and `after` a cursor of this list, else `INVALID_ARGUMENT`.
pub fn arguments<K: Serialize + DeserializeOwned>(
    list: &str,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<PageArgs<K>> {
    let size = match first {
        None => DEFAULT_PAGE,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_PAGE)
            .ok_or_else(|| {
                coded_error(
                    codes::INVALID_ARGUMENT,
                    format!("`first` must be from 0 to {MAX_PAGE} (it is {n})"),
                )
            })?,
    };
    let after = after
        .map(|text| {
            Cursor::<K>::decode_cursor(text)
                .ok()
                .filter(|cursor| cursor.list == list)
                .map(|cursor| cursor.0.key)
                .ok_or_else(|| {
                    coded_error(
                        codes::INVALID_ARGUMENT,
                        format!(
                            "`after` is not a cursor of `{list}`: pass an `endCursor` or an edge's \
                             `cursor` from this list, unchanged"
                        ),
                    )
                })
        })
        .transpose()?;
    Ok(PageArgs { size, after })
}

/// The page of `items` (the whole list under its filters, in the order of `key`, which must be
/// the list's order) that `first` and `after` ask for. The page starts right after the place
/// `after` holds, whether or not an item is still there.
pub fn page_of<'a, T, K>(
    list: &str,
    items: Vec<&'a T>,
    key: impl Fn(&T) -> K,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<K, &'a T>>
where
    &'a T: OutputType,
    K: Ord + Serialize + DeserializeOwned + Send + Sync,
{
    let PageArgs { size, after } = arguments::<K>(list, first, after.as_deref())?;
    debug_assert!(
        items.is_sorted_by_key(|item| key(item)),
        "`{list}` is not in the order of its cursors"
    );
    let start = after.map_or(0, |after| items.partition_point(|item| key(item) <= after));
    let end = start.saturating_add(size).min(items.len());
    let mut page = Connection::with_additional_fields(
        start > 0,
        end < items.len(),
        Totals {
            total_count: items.len(),
        },
    );
    page.edges.extend(
        items[start..end]
            .iter()
            .map(|item| Edge::new(cursor(list, key(item)), *item)),
    );
    Ok(page)
}

/// The order of lists shown newest first: by time, newest first, items without a time last,
/// then by the item's id (stable across requests), so every item has its own place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewestFirst {
    #[serde(rename = "t")]
    pub time: Option<chrono::DateTime<Utc>>,
    #[serde(rename = "i")]
    pub id: String,
}

impl Ord for NewestFirst {
    fn cmp(&self, other: &Self) -> Ordering {
        // `None < Some`, so reversed, every time comes before none and the newest leads.
        (Reverse(self.time), &self.id).cmp(&(Reverse(other.time), &other.id))
    }
}

impl PartialOrd for NewestFirst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::connection::CursorType;
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32, id: &str) -> NewestFirst {
        NewestFirst {
            time: Some(Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0).unwrap()),
            id: id.into(),
        }
    }

    fn encoded(list: &str, key: NewestFirst) -> String {
        cursor(list, key).encode_cursor()
    }

    #[test]
    fn newest_first_puts_the_newest_first_ties_by_id_and_untimed_items_last() {
        let untimed = NewestFirst {
            time: None,
            id: "mea-0".into(),
        };
        let mut keys = vec![
            untimed.clone(),
            at(8, "mea-b"),
            at(9, "mea-z"),
            at(8, "mea-a"),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [at(9, "mea-z"), at(8, "mea-a"), at(8, "mea-b"), untimed]
        );
    }

    #[test]
    fn a_cursor_reads_back_as_the_place_it_was_made_for() {
        let text = encoded("measurements", at(8, "mea-a"));
        let args = arguments::<NewestFirst>("measurements", Some(2), Some(&text)).unwrap();
        assert_eq!(args.after, Some(at(8, "mea-a")));
        assert_eq!(args.size, 2);
    }

    #[test]
    fn a_cursor_of_another_list_or_not_a_cursor_at_all_is_an_invalid_argument() {
        let lab = encoded("labResults", at(8, "lab-a"));
        for text in [lab.as_str(), "MTAw", "not a cursor", ""] {
            let error = arguments::<NewestFirst>("measurements", None, Some(text))
                .err()
                .unwrap_or_else(|| panic!("{text:?} was taken for a cursor"));
            assert_eq!(
                error.extensions.unwrap().get("code"),
                Some(&async_graphql::Value::from(codes::INVALID_ARGUMENT))
            );
        }
    }

    #[test]
    fn first_defaults_to_a_hundred_and_may_be_zero_to_five_hundred() {
        let size = |first| arguments::<NewestFirst>("measurements", first, None).map(|a| a.size);
        assert_eq!(size(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(size(Some(0)).unwrap(), 0);
        assert_eq!(size(Some(500)).unwrap(), 500);
        assert!(size(Some(501)).is_err());
        assert!(size(Some(-1)).is_err());
    }
}
