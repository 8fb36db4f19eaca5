//! Lists read a page at a time: what `?limit=`, `?cursor=` and `?q=` ask for, and the one
//! paging walk every list route and GUI table uses.
//!
//! Models keep their objects in ordered maps keyed by id ([`Registry`](crate::Registry),
//! [`GrowSet`](crate::GrowSet)), so a page is a range scan from the cursor's key — never a
//! full scan and sort. A [`Cursor`] is that key with a direction, handed out base64url-encoded
//! and opaque to clients; a garbled one is refused ([`ListError::Cursor`]), a forged but
//! well-formed one only starts the walk at another key, which is harmless.
//!
//! Searching (`q`, case-insensitive, on what the domain names searchable: ids and names)
//! and filters (e.g. "only hired students") skip entries, so a sparse match could otherwise
//! walk a million entries per request. The walk therefore examines at most
//! [`SCAN_BUDGET`] entries; when the budget runs out the page ends early — possibly empty —
//! with a cursor to continue from where it stopped, as getEvents' `next_after` does. Only the
//! absence of a next cursor means the end of the list.
//!
//! ```text
//!   keys:   a  b  c  d  e  f  g  h
//!   page 1: a  b  c            next = After(c)        (limit 3)
//!   page 2:          d  e  f   next = After(f), prev = Before(d)
//! ```

use std::ops::Bound;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::model::{GrowSet, Registry};

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` a client may ask for.
pub const MAX_LIMIT: usize = 1000;
/// The longest search text, in characters.
pub const MAX_SEARCH: usize = 256;
/// The most entries one page may examine (matching or not) before it ends early.
pub const SCAN_BUDGET: usize = 50_000;
/// What the items of one page may weigh in all ([`ListQuery::page_weighed`]), e.g. nested
/// entries of the items.
pub const WEIGHT_BUDGET: usize = 10_000;

/// Why a list's query string was refused (a 400 naming [`ListError::parameter`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("limit must be a whole number from 1 to {MAX_LIMIT}, not {0:?}")]
    Limit(String),
    #[error("cursor is not one this list handed out; start again without it")]
    Cursor,
    #[error("q is at most {MAX_SEARCH} characters long")]
    Search,
    #[error("parameter {0:?} is given twice")]
    Repeated(String),
    #[error("unknown parameter {0:?}: a list takes limit, cursor and q")]
    Unknown(String),
}

impl ListError {
    /// The query parameter at fault.
    pub fn parameter(&self) -> &str {
        match self {
            ListError::Limit(_) => "limit",
            ListError::Cursor => "cursor",
            ListError::Search => "q",
            ListError::Repeated(name) | ListError::Unknown(name) => name,
        }
    }
}

/// Where a page starts: after a key (reading forwards) or before one (reading backwards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The entries above this lower bound, first ones first. `Unbounded` is the first page.
    After(Bound<String>),
    /// The entries below this upper bound, last ones first (shown in key order). `Unbounded`
    /// is the last page.
    Before(Bound<String>),
}

impl Cursor {
    /// The last page of a list.
    pub fn last() -> Cursor {
        Cursor::Before(Bound::Unbounded)
    }

    /// The opaque text handed to clients: base64url of a tag byte and the key.
    pub fn encode(&self) -> String {
        let (tag, key) = match self {
            Cursor::After(Bound::Excluded(key)) => (b'a', key.as_str()),
            Cursor::After(Bound::Included(key)) => (b'f', key.as_str()),
            Cursor::After(Bound::Unbounded) => (b'h', ""),
            Cursor::Before(Bound::Excluded(key)) => (b'b', key.as_str()),
            Cursor::Before(Bound::Included(key)) => (b't', key.as_str()),
            Cursor::Before(Bound::Unbounded) => (b'l', ""),
        };
        let mut bytes = Vec::with_capacity(1 + key.len());
        bytes.push(tag);
        bytes.extend_from_slice(key.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads back what [`Cursor::encode`] wrote; anything else is [`ListError::Cursor`].
    pub fn decode(text: &str) -> Result<Cursor, ListError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| ListError::Cursor)?;
        let (&tag, key) = bytes.split_first().ok_or(ListError::Cursor)?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| ListError::Cursor)?;
        let keyless = |cursor: Cursor| {
            if key.is_empty() {
                Ok(cursor)
            } else {
                Err(ListError::Cursor)
            }
        };
        match tag {
            b'a' => Ok(Cursor::After(Bound::Excluded(key))),
            b'f' => Ok(Cursor::After(Bound::Included(key))),
            b'b' => Ok(Cursor::Before(Bound::Excluded(key))),
            b't' => Ok(Cursor::Before(Bound::Included(key))),
            b'h' => keyless(Cursor::After(Bound::Unbounded)),
            b'l' => keyless(Cursor::Before(Bound::Unbounded)),
            _ => Err(ListError::Cursor),
        }
    }
}

/// A search: the text as asked, and folded to lower case for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Search {
    text: String,
    folded: String,
}

/// What one request asks of a list: how many, from where, matching what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<Cursor>,
    search: Option<Search>,
    /// Whether `limit` was given (links to other pages repeat it only then).
    limit_given: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery::new(DEFAULT_LIMIT)
    }
}

impl ListQuery {
    /// The first page, `limit` items (at least 1), no search.
    pub fn new(limit: usize) -> Self {
        ListQuery {
            limit: limit.max(1),
            cursor: None,
            search: None,
            limit_given: false,
        }
    }

    /// From a list route's decoded query parameters, strictly: a bad `limit`, a garbled
    /// `cursor`, a `q` too long, a parameter given twice or an unknown one is an error.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListQuery, ListError> {
        let mut query = ListQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(ListError::Repeated(name.to_owned()));
            }
            seen.push(name);
            match name {
                "limit" => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| ListError::Limit(value.to_owned()))?;
                    query.limit_given = true;
                }
                "cursor" => query.cursor = Some(Cursor::decode(value)?),
                "q" => {
                    if value.chars().count() > MAX_SEARCH {
                        return Err(ListError::Search);
                    }
                    query = query.search(value);
                }
                other => return Err(ListError::Unknown(other.to_owned())),
            }
        }
        Ok(query)
    }

    /// The same query starting at `cursor`.
    pub fn at(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The same query searching `text` (blank: no search).
    pub fn search(mut self, text: &str) -> Self {
        let text = text.trim();
        self.search = (!text.is_empty()).then(|| Search {
            text: text.to_owned(),
            folded: text.to_lowercase(),
        });
        self
    }

    /// The search as asked, if any.
    pub fn search_text(&self) -> Option<&str> {
        self.search.as_ref().map(|s| s.text.as_str())
    }

    /// Whether any of `texts` contains the search, ignoring case; true without a search.
    pub fn matches<'t>(&self, texts: impl IntoIterator<Item = &'t str>) -> bool {
        match &self.search {
            None => true,
            Some(search) => texts
                .into_iter()
                .any(|text| contains_folded(text, &search.folded)),
        }
    }

    /// The query parameters of this query at another page (`cursor`), as decoded pairs,
    /// for a link to it: `limit` if it was given, `q` if any, then the cursor.
    pub fn pairs_at(&self, cursor: &Cursor) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if self.limit_given {
            pairs.push(("limit", self.limit.to_string()));
        }
        if let Some(search) = &self.search {
            pairs.push(("q", search.text.clone()));
        }
        pairs.push(("cursor", cursor.encode()));
        pairs
    }

    /// One page of `source`: its entries in key order from the cursor, each turned into an
    /// item by `select` — or skipped when `select` answers `None` (a filter, or the search
    /// not matching). At most [`SCAN_BUDGET`] entries are examined.
    pub fn page<'a, P, O>(
        &self,
        source: &'a P,
        select: impl FnMut(&'a str, P::Item<'a>) -> Option<O>,
    ) -> Page<O>
    where
        P: Pageable + ?Sized,
    {
        self.walk(source, SCAN_BUDGET, usize::MAX, |_| 0, select)
    }

    /// [`ListQuery::page`] for items of very different sizes (an examination listing its
    /// enrolled students): the page also ends, after at least one item, once its items
    /// `weigh` [`WEIGHT_BUDGET`] in all, so one answer stays bounded in size.
    pub fn page_weighed<'a, P, O>(
        &self,
        source: &'a P,
        weigh: impl Fn(&O) -> usize,
        select: impl FnMut(&'a str, P::Item<'a>) -> Option<O>,
    ) -> Page<O>
    where
        P: Pageable + ?Sized,
    {
        self.walk(source, SCAN_BUDGET, WEIGHT_BUDGET, weigh, select)
    }

    /// [`ListQuery::page`] with another budget (tests use small ones).
    pub fn page_within<'a, P, O>(
        &self,
        source: &'a P,
        budget: usize,
        select: impl FnMut(&'a str, P::Item<'a>) -> Option<O>,
    ) -> Page<O>
    where
        P: Pageable + ?Sized,
    {
        self.walk(source, budget, usize::MAX, |_| 0, select)
    }

    fn walk<'a, P, O>(
        &self,
        source: &'a P,
        budget: usize,
        weight_budget: usize,
        weigh: impl Fn(&O) -> usize,
        select: impl FnMut(&'a str, P::Item<'a>) -> Option<O>,
    ) -> Page<O>
    where
        P: Pageable + ?Sized,
    {
        let budget = budget.max(1);
        match self
            .cursor
            .clone()
            .unwrap_or(Cursor::After(Bound::Unbounded))
        {
            Cursor::After(lower) => {
                let entries = source.entries((as_ref(&lower), Bound::Unbounded));
                let limits = Limits {
                    items: self.limit,
                    examined: budget,
                    weight: weight_budget,
                };
                let walk = walk(entries, limits, weigh, select);
                let next = match walk.stop {
                    Stop::End => None,
                    Stop::Full => walk
                        .last
                        .map(|k| Cursor::After(Bound::Excluded(k.to_owned()))),
                    Stop::Budget(k) => Some(Cursor::After(Bound::Excluded(k))),
                };
                let prev = match (&lower, walk.first) {
                    (Bound::Unbounded, _) => None,
                    (_, Some(first)) => Some(Cursor::Before(Bound::Excluded(first.to_owned()))),
                    (lower, None) => Some(Cursor::Before(complement(lower))),
                };
                Page {
                    items: walk.items,
                    next,
                    prev,
                    examined: walk.examined,
                }
            }
            Cursor::Before(upper) => {
                let entries = source.entries((Bound::Unbounded, as_ref(&upper))).rev();
                let limits = Limits {
                    items: self.limit,
                    examined: budget,
                    weight: weight_budget,
                };
                let mut walk = walk(entries, limits, weigh, select);
                walk.items.reverse();
                // Walking backwards, the first key met is the page's largest.
                let prev = match walk.stop {
                    Stop::End => None,
                    Stop::Full => walk
                        .last
                        .map(|k| Cursor::Before(Bound::Excluded(k.to_owned()))),
                    Stop::Budget(k) => Some(Cursor::Before(Bound::Excluded(k))),
                };
                let next = match (&upper, walk.first) {
                    (Bound::Unbounded, _) => None,
                    (_, Some(largest)) => Some(Cursor::After(Bound::Excluded(largest.to_owned()))),
                    (upper, None) => Some(Cursor::After(complement(upper))),
                };
                Page {
                    items: walk.items,
                    next,
                    prev,
                    examined: walk.examined,
                }
            }
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// In key order.
    pub items: Vec<T>,
    /// Where the following page starts; `None` at the end of the list.
    pub next: Option<Cursor>,
    /// Where the preceding page ends; `None` at the start.
    pub prev: Option<Cursor>,
    /// How many entries the walk examined (matching or not).
    pub examined: usize,
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
            prev: self.prev,
            examined: self.examined,
        }
    }
}

/// An ordered collection a list can be paged through: entries by string key, in key
/// order, within bounds, either way round. The walk asks for one-sided ranges only.
pub trait Pageable {
    type Item<'a>
    where
        Self: 'a;

    fn entries<'a>(
        &'a self,
        range: (Bound<&str>, Bound<&str>),
    ) -> impl DoubleEndedIterator<Item = (&'a str, Self::Item<'a>)>;
}

impl<V> Pageable for Registry<String, V> {
    type Item<'a>
        = &'a V
    where
        V: 'a;

    fn entries<'a>(
        &'a self,
        range: (Bound<&str>, Bound<&str>),
    ) -> impl DoubleEndedIterator<Item = (&'a str, &'a V)> {
        self.range::<str, _>(range)
            .map(|(key, value)| (key.as_str(), value))
    }
}

impl Pageable for GrowSet<String> {
    type Item<'a> = ();

    fn entries<'a>(
        &'a self,
        range: (Bound<&str>, Bound<&str>),
    ) -> impl DoubleEndedIterator<Item = (&'a str, ())> {
        self.range::<str, _>(range).map(|key| (key.as_str(), ()))
    }
}

/// Why a walk stopped.
enum Stop {
    /// No entries left.
    End,
    /// The page is full and another match follows it.
    Full,
    /// The budget ran out; the key is the last one examined.
    Budget(String),
}

struct Walk<'a, O> {
    items: Vec<O>,
    /// The keys of the first and last item, in walking order.
    first: Option<&'a str>,
    last: Option<&'a str>,
    stop: Stop,
    examined: usize,
}

/// When a walk stops: after `items` items, `examined` entries examined, or items that
/// weigh `weight` in all.
struct Limits {
    items: usize,
    examined: usize,
    weight: usize,
}

fn walk<'a, T, O>(
    entries: impl Iterator<Item = (&'a str, T)>,
    limits: Limits,
    weigh: impl Fn(&O) -> usize,
    mut select: impl FnMut(&'a str, T) -> Option<O>,
) -> Walk<'a, O> {
    let mut walk = Walk {
        items: Vec::new(),
        first: None,
        last: None,
        stop: Stop::End,
        examined: 0,
    };
    let mut weight = 0usize;
    let mut examined_last: Option<&str> = None;
    for (key, value) in entries {
        if let Some(previous) = examined_last.filter(|_| walk.examined >= limits.examined) {
            walk.stop = Stop::Budget(previous.to_owned());
            return walk;
        }
        walk.examined += 1;
        examined_last = Some(key);
        let Some(item) = select(key, value) else {
            continue;
        };
        if walk.items.len() == limits.items || weight >= limits.weight {
            walk.stop = Stop::Full;
            return walk;
        }
        weight = weight.saturating_add(weigh(&item));
        walk.first.get_or_insert(key);
        walk.last = Some(key);
        walk.items.push(item);
    }
    walk
}

fn as_ref(bound: &Bound<String>) -> Bound<&str> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_str()),
        Bound::Excluded(key) => Bound::Excluded(key.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The bound on the other side of the same key: what lies below a lower bound, or above an
/// upper one.
fn complement(bound: &Bound<String>) -> Bound<String> {
    match bound {
        Bound::Included(key) => Bound::Excluded(key.clone()),
        Bound::Excluded(key) => Bound::Included(key.clone()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `haystack` contains `needle` (already lower case), ignoring case; without
/// allocating for ASCII text, the usual case for ids and names.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        haystack
            .as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        haystack.to_lowercase().contains(needle)
    }
}

#[cfg(test)]
mod tests;
