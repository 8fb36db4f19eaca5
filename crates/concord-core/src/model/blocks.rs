//! Convergent building blocks: last-writer-wins registers, getOrCreate registries, sets.

use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeBounds;

use crate::event::{EventId, Timestamp};

/// What orders two writes of the same attribute: the later `time` wins, ties broken by the
/// larger event id. Never arrival order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub time: Timestamp,
    pub id: EventId,
}

impl Stamp {
    pub fn new(time: Timestamp, id: EventId) -> Self {
        Stamp { time, id }
    }
}

/// A last-writer-wins register: holds the value of the write with the greatest [`Stamp`].
///
/// Setting is commutative (the result is the maximum whatever the order) and idempotent
/// (setting the same write again changes nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct Lww<T> {
    current: Option<(T, Stamp)>,
}

impl<T> Default for Lww<T> {
    fn default() -> Self {
        Lww { current: None }
    }
}

impl<T: fmt::Debug> fmt::Debug for Lww<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.current {
            Some((value, _)) => write!(f, "{value:?}"),
            None => f.write_str("unset"),
        }
    }
}

impl<T> Lww<T> {
    /// Offers a write; it takes effect only if its stamp is later than the current one.
    /// Returns whether it did.
    pub fn set(&mut self, value: T, stamp: &Stamp) -> bool {
        match &self.current {
            Some((_, current)) if current >= stamp => false,
            _ => {
                self.current = Some((value, stamp.clone()));
                true
            }
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.current.as_ref().map(|(value, _)| value)
    }

    pub fn stamp(&self) -> Option<&Stamp> {
        self.current.as_ref().map(|(_, stamp)| stamp)
    }

    pub fn is_set(&self) -> bool {
        self.current.is_some()
    }
}

/// Objects identified by key and created on first mention (getOrCreate).
///
/// An event that names an object this service has not seen yet creates a placeholder, so no
/// event is ever refused for missing context; the placeholder fills in as other events arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry<K: Ord, V> {
    entries: BTreeMap<K, V>,
}

impl<K: Ord, V> Default for Registry<K, V> {
    fn default() -> Self {
        Registry {
            entries: BTreeMap::new(),
        }
    }
}

impl<K: Ord, V: Default> Registry<K, V> {
    /// The object with this key, created empty if it did not exist.
    pub fn get_or_create(&mut self, key: K) -> &mut V {
        self.entries.entry(key).or_default()
    }
}

impl<K: Ord, V> Registry<K, V> {
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.get(key)
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.contains_key(key)
    }

    pub fn iter(&self) -> btree_map::Iter<'_, K, V> {
        self.entries.iter()
    }

    /// The entries whose keys lie in `range`, in key order (either way round): what a page
    /// of a list reads ([`crate::list`]).
    pub fn range<Q, R>(&self, range: R) -> btree_map::Range<'_, K, V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        self.entries.range(range)
    }

    pub fn keys(&self) -> btree_map::Keys<'_, K, V> {
        self.entries.keys()
    }

    pub fn values(&self) -> btree_map::Values<'_, K, V> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a Registry<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A grow-only set: members accumulate and nothing removes one, so union in any order
/// gives the same set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrowSet<T: Ord> {
    members: BTreeSet<T>,
}

impl<T: Ord> Default for GrowSet<T> {
    fn default() -> Self {
        GrowSet {
            members: BTreeSet::new(),
        }
    }
}

impl<T: Ord> GrowSet<T> {
    /// Adds a member; returns whether it was new.
    pub fn insert(&mut self, member: T) -> bool {
        self.members.insert(member)
    }

    pub fn contains<Q>(&self, member: &Q) -> bool
    where
        T: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.members.contains(member)
    }

    pub fn iter(&self) -> std::collections::btree_set::Iter<'_, T> {
        self.members.iter()
    }

    /// The members in `range`, in order (either way round).
    pub fn range<Q, R>(&self, range: R) -> std::collections::btree_set::Range<'_, T>
    where
        T: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
        R: RangeBounds<Q>,
    {
        self.members.range(range)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(time: i128, id: &str) -> Stamp {
        Stamp::new(Timestamp::from_unix_nanos(time), id.into())
    }

    #[test]
    fn the_later_time_wins_whatever_the_order() {
        let (early, late) = (stamp(1, "z"), stamp(2, "a"));
        let mut forward = Lww::default();
        forward.set("early", &early);
        forward.set("late", &late);
        let mut backward = Lww::default();
        backward.set("late", &late);
        assert!(
            !backward.set("early", &early),
            "an older write has no effect"
        );
        assert_eq!(forward, backward);
        assert_eq!(forward.get(), Some(&"late"));
    }

    #[test]
    fn equal_times_are_broken_by_the_larger_id() {
        let mut register = Lww::default();
        register.set("b", &stamp(5, "b"));
        register.set("a", &stamp(5, "a"));
        assert_eq!(register.get(), Some(&"b"));
        assert!(
            !register.set("b", &stamp(5, "b")),
            "the same write twice is a no-op"
        );
    }

    #[test]
    fn get_or_create_makes_a_placeholder_once() {
        let mut students: Registry<String, Lww<String>> = Registry::default();
        assert!(!students.get_or_create("s-1".into()).is_set());
        students
            .get_or_create("s-1".into())
            .set("Ada".into(), &stamp(1, "e"));
        students.get_or_create("s-1".into());
        assert_eq!(students.len(), 1);
        assert_eq!(
            students.get("s-1").unwrap().get().map(String::as_str),
            Some("Ada")
        );
    }

    #[test]
    fn sets_only_grow() {
        let mut hires = GrowSet::default();
        assert!(hires.insert("se-group"));
        assert!(!hires.insert("se-group"));
        hires.insert("theory-group");
        assert_eq!(
            hires.iter().copied().collect::<Vec<_>>(),
            vec!["se-group", "theory-group"]
        );
    }
}
