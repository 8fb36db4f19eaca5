//! Lists a page at a time, as a client following `Link` headers uses them and as a careless
//! or hostile one garbles them; and the GUI's paged table, searched and paged by links.

use serde_json::Value;

use crate::common::*;

/// `count` notes n00 … n(count-1), posted by the peer in one batch.
async fn service_with_notes(count: usize) -> Service {
    let service = Service::start();
    let batch: Vec<Value> = (0..count)
        .map(|i| written(&format!("e{i}"), &format!("n{i:02}"), &format!("Text {i}")))
        .collect();
    let report = service.post_json("/api/events", &Value::Array(batch)).await;
    assert_eq!(report.expect(200)["accepted"], count);
    service
}

/// The target of the `Link` header's relation `rel`, if any.
fn link(reply: &Reply, rel: &str) -> Option<String> {
    let header = reply.headers.get("link")?.to_str().unwrap().to_owned();
    header.split(", ").find_map(|part| {
        let (target, params) = part.split_once(">; ")?;
        (params == format!("rel=\"{rel}\"")).then(|| target.trim_start_matches('<').to_owned())
    })
}

fn ids(reply: &Reply) -> Vec<String> {
    reply
        .expect(200)
        .as_array()
        .expect("a list answers an array")
        .iter()
        .map(|note| note["noteId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn following_next_links_lists_every_item_once() {
    let service = service_with_notes(23).await;
    let mut uri = "/api/notes?limit=10".to_owned();
    let mut pages = Vec::new();
    loop {
        let reply = service.get(&uri).await;
        pages.push(ids(&reply));
        match link(&reply, "next") {
            Some(next) => {
                assert!(next.starts_with("/api/notes?limit=10&cursor="), "{next}");
                uri = next;
            }
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
    let all: Vec<String> = (0..23).map(|i| format!("n{i:02}")).collect();
    assert_eq!(pages.concat(), all);

    // From the last page, "prev" goes back one page.
    let last = service.get(&uri).await;
    let prev = link(&last, "prev").expect("the last page links back");
    assert_eq!(ids(&service.get(&prev).await), pages[1]);
    // The first page has no "prev", and a list that fits one page no Link at all.
    assert_eq!(
        link(&service.get("/api/notes?limit=10").await, "prev"),
        None
    );
    let whole = service.get("/api/notes").await;
    assert_eq!(ids(&whole).len(), 23);
    assert!(whole.headers.get("link").is_none());
}

#[tokio::test]
async fn a_list_answers_a_hundred_by_default_and_a_thousand_at_most() {
    let service = service_with_notes(150).await;
    let first = service.get("/api/notes").await;
    assert_eq!(ids(&first).len(), 100);
    let next = link(&first, "next").expect("more remain");
    assert!(
        !next.contains("limit="),
        "the default is not repeated: {next}"
    );
    assert_eq!(ids(&service.get(&next).await).len(), 50);
    assert_eq!(ids(&service.get("/api/notes?limit=1000").await).len(), 150);
}

#[tokio::test]
async fn a_search_matches_ids_and_texts_and_its_links_keep_it() {
    let service = service_with_notes(30).await;
    // "Text 1", "Text 10" … "Text 19": eleven notes, by their text.
    let reply = service.get("/api/notes?q=TEXT%201&limit=5").await;
    assert_eq!(ids(&reply), ["n01", "n10", "n11", "n12", "n13"]);
    let next = link(&reply, "next").unwrap();
    assert!(next.contains("q=TEXT+1"), "{next}");
    let rest = ids(&service.get(&next).await);
    assert_eq!(rest, ["n14", "n15", "n16", "n17", "n18"]);
    // By id; nothing found is an empty array, not an error.
    assert_eq!(ids(&service.get("/api/notes?q=n2").await).len(), 10);
    assert!(ids(&service.get("/api/notes?q=nothing-like-it").await).is_empty());
    // Text that is not valid UTF-8 once decoded is searched as what it decodes to.
    assert!(ids(&service.get("/api/notes?q=%FF%FE").await).is_empty());
}

#[tokio::test]
async fn bad_paging_parameters_are_a_400_naming_them() {
    let service = service_with_notes(3).await;
    let long = "x".repeat(257);
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("limit=18446744073709551616", "limit"),
        ("cursor=", "cursor"),
        ("cursor=%%%", "cursor"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=YQ%3D%3D", "cursor"),
        (&format!("q={long}"), "q"),
        ("limit=5&limit=6", "limit"),
        ("offset=10", "offset"),
        ("page=2", "page"),
    ] {
        let reply = service.get(&format!("/api/notes?{query}")).await;
        let body = reply.expect(400);
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    // A single-object query is not a list: its query string is ignored, as before.
    service.get("/api/notes/n00?limit=0").await.expect(200);
}

#[tokio::test]
async fn a_forged_cursor_starts_elsewhere_and_never_fails() {
    use concord_core::list::Cursor;
    use std::ops::Bound;
    let service = service_with_notes(10).await;
    for cursor in [
        Cursor::After(Bound::Excluded("n05".into())),
        Cursor::After(Bound::Included("zzz".into())),
        Cursor::Before(Bound::Excluded("".into())),
        Cursor::Before(Bound::Included("\u{10FFFF}".into())),
        Cursor::After(Bound::Excluded("x".repeat(2000))),
    ] {
        let reply = service
            .get(&format!("/api/notes?cursor={}", cursor.encode()))
            .await;
        assert_eq!(reply.status, 200, "{cursor:?}: {}", reply.body);
    }
    let after = Cursor::After(Bound::Excluded("n05".into())).encode();
    assert_eq!(
        ids(&service.get(&format!("/api/notes?cursor={after}")).await),
        ["n06", "n07", "n08", "n09"]
    );
}

/// The `href` of the first link with this class in the page.
fn href<'a>(page: &'a str, class: &str) -> Option<&'a str> {
    let start = page.find(&format!("<a class=\"{class}\""))?;
    let rest = &page[start..];
    let href = &rest[rest.find("href=\"")? + 6..];
    Some(&href[..href.find('"')?])
}

fn rows(page: &str) -> Vec<String> {
    (0..40)
        .map(|i| format!("n{i:02}"))
        .filter(|id| page.contains(&format!("<span class=\"text\">{id}</span>")))
        .collect()
}

#[tokio::test]
async fn the_page_shows_one_page_of_a_table_with_search_and_links() {
    let service = service_with_notes(12).await;
    let first = service.get("/").await;
    let page = first.body.as_str().unwrap();
    assert_eq!(rows(page), ["n00", "n01", "n02", "n03", "n04"]);
    assert!(page.contains("5 shown of 12 notes"), "{page}");
    assert!(page.contains("name=\"notes.q\""), "a search box: {page}");
    assert!(page.contains("placeholder=\"Note or text\""));
    assert!(href(page, "prev").is_none() && href(page, "first").is_none());

    // "Next" keeps the rest of the page's query (here the event log's filter).
    let filtered = service.get("/?type=noteWritten").await;
    let next = href(filtered.body.as_str().unwrap(), "next")
        .expect("a next link")
        .replace("&amp;", "&");
    assert!(
        next.starts_with("/?type=noteWritten&notes.cursor="),
        "{next}"
    );
    assert!(next.ends_with("#notes"), "{next}");
    let second = service.get(&next).await;
    let second = second.body.as_str().unwrap();
    assert_eq!(rows(second), ["n05", "n06", "n07", "n08", "n09"]);
    let previous = href(second, "prev").unwrap().replace("&amp;", "&");
    assert_eq!(
        rows(service.get(&previous).await.body.as_str().unwrap()),
        ["n00", "n01", "n02", "n03", "n04"]
    );
    let last = href(second, "last").unwrap().replace("&amp;", "&");
    let last = service.get(&last).await;
    assert_eq!(
        rows(last.body.as_str().unwrap()),
        ["n07", "n08", "n09", "n10", "n11"]
    );

    // A search, with a way to clear it; a garbled cursor shows the first page.
    let searched = service.get("/?notes.q=N1").await;
    let searched = searched.body.as_str().unwrap();
    assert_eq!(rows(searched), ["n10", "n11"]);
    assert!(
        searched.contains("2 shown matching “N1” — 12 notes in all"),
        "{searched}"
    );
    assert!(searched.contains(">Clear</a>"));
    let garbled = service.get("/?notes.cursor=%%%").await;
    assert_eq!(garbled.status, 200);
    assert_eq!(rows(garbled.body.as_str().unwrap()).len(), 5);
    // A table that fits shows its count without links.
    let few = service_with_notes(3).await;
    let few = few.get("/").await;
    let few = few.body.as_str().unwrap();
    assert!(few.contains("3 notes in all"), "{few}");
    assert!(href(few, "next").is_none());
}
