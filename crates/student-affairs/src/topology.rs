//! The paper's synchronisation topology as link specifications.
//!
//! - se-group and theory-group each **pull** the office's `studentEnrolled` for their own
//!   group, and **pull** `studentHired` from the ta-pool (that is how one group learns of the
//!   other's hires);
//! - each group **pushes** its own `studentGraded` to the office and its own `studentHired`
//!   to the ta-pool.
//!
//! The office and the ta-pool have no links of their own: they serve and receive.

use concord_sync::LinkSpec;

use crate::catalogue::{EventData, StudentEnrolled, StudentGraded, StudentHired};
use crate::{SE_GROUP, STUDENTS_OFFICE, TA_POOL, THEORY_GROUP};

/// The links `service` runs in the paper's topology; `url_of` gives a peer's base URL.
pub fn paper_links(
    service: &str,
    url_of: impl Fn(&str) -> String,
    interval_ms: u64,
) -> Vec<LinkSpec> {
    if service != SE_GROUP && service != THEORY_GROUP {
        return Vec::new();
    }
    vec![
        LinkSpec::pull(
            STUDENTS_OFFICE,
            &url_of(STUDENTS_OFFICE),
            &[StudentEnrolled::TYPE],
        )
        .with_filter("group", service),
        LinkSpec::pull(TA_POOL, &url_of(TA_POOL), &[StudentHired::TYPE]),
        LinkSpec::push(
            service,
            STUDENTS_OFFICE,
            &url_of(STUDENTS_OFFICE),
            &[StudentGraded::TYPE],
        ),
        LinkSpec::push(service, TA_POOL, &url_of(TA_POOL), &[StudentHired::TYPE]),
    ]
    .into_iter()
    .map(|link| link.with_interval(interval_ms))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_sync::Direction;

    #[test]
    fn groups_pull_and_push_what_the_paper_says() {
        let links = paper_links(SE_GROUP, |peer| format!("http://{peer}"), 500);
        let summary: Vec<(Direction, &str, &str, Vec<String>)> = links
            .iter()
            .map(|l| {
                (
                    l.direction,
                    l.peer.as_str(),
                    l.types[0].as_str(),
                    l.filter.iter().map(ToString::to_string).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Direction::Pull,
                    STUDENTS_OFFICE,
                    "studentEnrolled",
                    vec!["data.group=se-group".to_owned()]
                ),
                (Direction::Pull, TA_POOL, "studentHired", vec![]),
                (Direction::Push, STUDENTS_OFFICE, "studentGraded", vec![]),
                (Direction::Push, TA_POOL, "studentHired", vec![]),
            ]
        );
        assert!(links
            .iter()
            .all(|l| l.interval_ms == 500 && l.url == format!("http://{}", l.peer)));
        assert_eq!(
            links[2].sources,
            vec![SE_GROUP.to_owned()],
            "a group pushes only its own events"
        );
        assert!(paper_links(STUDENTS_OFFICE, |p| p.to_owned(), 500).is_empty());
        assert!(paper_links(TA_POOL, |p| p.to_owned(), 500).is_empty());
    }
}
