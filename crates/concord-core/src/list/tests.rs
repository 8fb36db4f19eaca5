//! The paging walk, as a client following links would use it — and as one forging,
//! garbling or overdoing the parameters would.

use std::ops::Bound;

use super::*;
use crate::Registry;

/// Keys k000 … k(n-1), each named "Name i".
fn registry(n: usize) -> Registry<String, String> {
    let mut registry = Registry::default();
    for i in 0..n {
        *registry.get_or_create(format!("k{i:03}")) = format!("Name {i}");
    }
    registry
}

fn keys(page: &Page<String>) -> Vec<String> {
    page.items.clone()
}

fn all_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i:03}")).collect()
}

fn pairs(raw: &[(&'static str, &'static str)]) -> Result<ListQuery, ListError> {
    ListQuery::from_pairs(raw.iter().copied())
}

/// Follows `next` from the first page; every page's keys.
fn forward(registry: &Registry<String, String>, query: &ListQuery) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = query.clone().at(cursor).page(registry, |key, name| {
            query.matches([key, name.as_str()]).then(|| key.to_owned())
        });
        pages.push(keys(&page));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 1000, "paging never ends");
    }
}

#[test]
fn following_next_lists_every_entry_once_in_order() {
    let pages = forward(&registry(250), &ListQuery::new(100));
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    assert_eq!(pages.concat(), all_keys(250));

    // A list that fills its last page exactly ends there: no empty page after it.
    let pages = forward(&registry(200), &ListQuery::new(100));
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100]);
    assert_eq!(
        forward(&registry(0), &ListQuery::new(10)),
        [Vec::<String>::new()]
    );
}

#[test]
fn previous_goes_back_exactly_a_page_and_next_returns() {
    let registry = registry(25);
    let query = ListQuery::new(10);
    let select = |key: &str, _: &String| Some(key.to_owned());
    let first = query.page(&registry, select);
    assert_eq!(first.prev, None, "the first page has no previous one");
    let second = query.clone().at(first.next.clone()).page(&registry, select);
    let third = query
        .clone()
        .at(second.next.clone())
        .page(&registry, select);
    assert_eq!(keys(&third), all_keys(25)[20..]);
    assert_eq!(third.next, None);

    let back = query.clone().at(third.prev.clone()).page(&registry, select);
    assert_eq!(keys(&back), keys(&second));
    let back = query.clone().at(back.prev.clone()).page(&registry, select);
    assert_eq!(keys(&back), keys(&first));
    assert_eq!(back.prev, None, "back at the start");
    let again = query.clone().at(back.next.clone()).page(&registry, select);
    assert_eq!(keys(&again), keys(&second));

    // The last page, straight away: the last `limit` entries, and the way back from there.
    let last = query
        .clone()
        .at(Some(Cursor::last()))
        .page(&registry, select);
    assert_eq!(keys(&last), all_keys(25)[15..]);
    assert_eq!(last.next, None);
    let before = query.clone().at(last.prev).page(&registry, select);
    assert_eq!(keys(&before), all_keys(25)[5..15]);
}

#[test]
fn a_search_matches_ids_and_names_ignoring_case() {
    let registry = registry(250);
    let query = ListQuery::new(100).search("  NAME 1 ");
    assert_eq!(query.search_text(), Some("NAME 1"));
    let found = forward(&registry, &query).concat();
    // "Name 1", "Name 10"…"Name 19", "Name 100"…"Name 199", in key order.
    let expected: Vec<String> = [1]
        .into_iter()
        .chain(10..20)
        .chain(100..200)
        .map(|i| format!("k{i:03}"))
        .collect();
    assert_eq!(found, expected);

    let by_id = forward(&registry, &ListQuery::new(5).search("K24")).concat();
    assert_eq!(by_id, all_keys(250)[240..250]);
    assert!(ListQuery::new(5).search("").matches(["anything"]));
    assert!(!ListQuery::new(5).search("zz").matches(["Name 1", "k001"]));
    // Unicode folds too.
    assert!(ListQuery::new(5).search("ÄNNE").matches(["Änne Müller"]));
    assert!(ListQuery::new(5).search("müller").matches(["ÄNNE MÜLLER"]));
}

#[test]
fn a_sparse_search_ends_pages_early_and_carries_on_where_it_stopped() {
    let registry = registry(1000);
    // Only k999 matches: with a budget of 300 entries, the walk needs four requests.
    let query = ListQuery::new(10).search("name 999");
    let select =
        |key: &str, name: &String| query.matches([key, name.as_str()]).then(|| key.to_owned());
    let mut cursor = None;
    let mut found = Vec::new();
    let mut requests = 0;
    loop {
        let page = query.clone().at(cursor).page_within(&registry, 300, select);
        requests += 1;
        assert!(page.examined <= 300, "{}", page.examined);
        found.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(found, ["k999"]);
    assert_eq!(requests, 4);
}

#[test]
fn a_filter_that_skips_entries_still_pages_exactly() {
    let registry = registry(100);
    let even = |key: &str, _: &String| {
        let n: usize = key[1..].parse().unwrap();
        (n & 1 == 0).then(|| key.to_owned())
    };
    let query = ListQuery::new(7);
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = query.clone().at(cursor).page(&registry, even);
        seen.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..100).step_by(2).map(|i| format!("k{i:03}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_grow_set_pages_like_a_registry() {
    let mut set = GrowSet::default();
    for i in 0..30 {
        set.insert(format!("s{i:02}"));
    }
    let query = ListQuery::new(20);
    let first = query.page(&set, |key, ()| Some(key.to_owned()));
    assert_eq!(first.items.len(), 20);
    let second = query
        .clone()
        .at(first.next)
        .page(&set, |key, ()| Some(key.to_owned()));
    assert_eq!(
        second.items,
        (20..30).map(|i| format!("s{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn cursors_round_trip_and_stay_url_safe() {
    for cursor in [
        Cursor::After(Bound::Excluded("s-1".into())),
        Cursor::After(Bound::Included("ä/ö+?&=#".into())),
        Cursor::After(Bound::Unbounded),
        Cursor::Before(Bound::Excluded("".into())),
        Cursor::Before(Bound::Included("x y".into())),
        Cursor::last(),
    ] {
        let text = cursor.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(Cursor::decode(&text), Ok(cursor));
    }
}

#[test]
fn a_forged_cursor_only_moves_the_start_and_a_garbled_one_is_refused() {
    // A well-formed cursor for a key that never existed starts the walk there.
    let registry = registry(30);
    let forged = Cursor::After(Bound::Excluded("k015x".into())).encode();
    let query = pairs(&[("cursor", Box::leak(forged.into_boxed_str()))]).unwrap();
    let page = query.page(&registry, |key, _| Some(key.to_owned()));
    assert_eq!(keys(&page), all_keys(30)[16..]);

    for garbled in [
        "",
        "!!!",
        "a",
        "YQ=",     // padding is not ours
        "eQ",      // unknown tag 'y'
        "bHg",     // 'l' (last page) carries no key
        "aGVsbG8", // 'h' (first page) with a key
        "Yf8",     // not UTF-8
        "%2Fetc%2Fpasswd",
    ] {
        assert_eq!(
            Cursor::decode(garbled),
            Err(ListError::Cursor),
            "{garbled:?}"
        );
    }
}

#[test]
fn bad_parameters_are_named() {
    assert_eq!(pairs(&[]).unwrap(), ListQuery::default());
    assert_eq!(pairs(&[("limit", "1000")]).unwrap().limit, 1000);
    for bad in [
        "0",
        "1001",
        "-1",
        "ten",
        "",
        " 5",
        "1e2",
        "99999999999999999999999",
    ] {
        let error = ListQuery::from_pairs([("limit", bad)]).unwrap_err();
        assert_eq!(error.parameter(), "limit", "{bad:?}");
        assert!(error.to_string().contains("1 to 1000"), "{error}");
    }
    assert_eq!(
        pairs(&[("cursor", "***")]).unwrap_err().parameter(),
        "cursor"
    );
    let long = "x".repeat(MAX_SEARCH + 1);
    assert_eq!(
        ListQuery::from_pairs([("q", long.as_str())])
            .unwrap_err()
            .parameter(),
        "q"
    );
    assert_eq!(
        pairs(&[("limit", "5"), ("limit", "6")]).unwrap_err(),
        ListError::Repeated("limit".into())
    );
    assert_eq!(
        pairs(&[("offset", "5")]).unwrap_err(),
        ListError::Unknown("offset".into())
    );
}

#[test]
fn links_repeat_limit_and_search_only_when_asked() {
    let cursor = Cursor::After(Bound::Excluded("k".into()));
    let plain = ListQuery::default();
    assert_eq!(plain.pairs_at(&cursor), [("cursor", cursor.encode())]);
    let asked = pairs(&[("q", "ada"), ("limit", "5")]).unwrap();
    assert_eq!(
        asked.pairs_at(&cursor),
        [
            ("limit", "5".to_owned()),
            ("q", "ada".to_owned()),
            ("cursor", cursor.encode())
        ]
    );
}

#[test]
fn heavy_items_end_a_page_early_but_never_before_its_first_item() {
    // Item i weighs 3000 × (i + 1): 3000, 6000, 9000, …
    let registry = registry(10);
    let weigh = |item: &(String, usize)| item.1;
    let select = |key: &str, _: &String| {
        let n: usize = key[1..].parse().unwrap();
        Some((key.to_owned(), 3000 * (n + 1)))
    };
    let query = ListQuery::new(100);
    let first = query.page_weighed(&registry, weigh, select);
    // 3000 + 6000 = 9000 < 10000, so a third item joins; then the page is full.
    assert_eq!(first.items.len(), 3);
    let second = query
        .clone()
        .at(first.next.clone())
        .page_weighed(&registry, weigh, select);
    assert_eq!(
        second.items.len(),
        1,
        "one item weighing more than the budget still shows"
    );
    assert_eq!(second.items[0].0, "k003");
    let mut seen = first.items.len() + second.items.len();
    let mut cursor = second.next;
    while let Some(next) = cursor {
        let page = query
            .clone()
            .at(Some(next))
            .page_weighed(&registry, weigh, select);
        seen += page.items.len();
        cursor = page.next;
    }
    assert_eq!(seen, 10, "nothing skipped");
}
