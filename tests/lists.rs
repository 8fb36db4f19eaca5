//! Lists and pages that stay small however many students there are (issue 10's "the GUI
//! crashes the process"), against the real `concord serve` binary: 5,000 posted
//! `studentGraded` events for distinct students and examinations once made the office's
//! grade matrix 5,000 × 5,000 cells and `GET /` abort the process; with 316 k students
//! `GET /` was 121 MB and `GET /api/students` returned them all.
//!
//! The test prints what it measures (run with `--nocapture`): page bytes, answer times and
//! the service's resident memory, at 5,000 and at 100,000 placeholder students. It asserts
//! sizes (deterministic), not times: speed is shown by figures, not by timed asserts.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const OFFICE: &str = "students-office";
const SE: &str = "se-group";
/// Events per putEvents batch.
const BATCH: usize = 2_000;
/// No page of the office may grow beyond this, however large the model.
const PAGE_BYTES: usize = 512 * 1024;

/// Posts `studentGraded` for students `from..to`, each in examination `exam(i)`.
fn grade_students(office: &Node, from: usize, to: usize, exam: impl Fn(usize) -> String) {
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let batch: Vec<Value> = (i..end)
            .map(|n| {
                graded(
                    &format!("g-{n}"),
                    SE,
                    &format!("s-{n:06}"),
                    &exam(n),
                    2.0,
                    &at(1),
                )
            })
            .collect();
        let (status, answer) = office.put_events(&batch);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], end - i, "{answer}");
        i = end;
    }
}

/// Resident memory of a process, in MiB (Linux), if known.
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `GET path` once to warm up, then timed; the answer and how long it took.
fn timed(office: &Node, path: &str) -> (Response, Duration) {
    office.send("GET", path, &[], b"");
    let started = Instant::now();
    let response = office.send("GET", path, &[], b"");
    (response, started.elapsed())
}

/// Measures the office's page and student list; asserts they are bounded.
fn measure(office: &Node, pid: u32, students: usize) {
    let (page, page_time) = timed(office, "/");
    assert_eq!(page.status, 200);
    let (list, list_time) = timed(office, "/api/students");
    assert_eq!(list.status, 200);
    let items = list.json().as_array().map(Vec::len).unwrap_or_default();
    let (searched, search_time) = timed(office, "/api/students?q=no-such-student");
    assert_eq!(searched.status, 200);
    let (last, last_time) = timed(office, "/?students.cursor=bA");
    assert_eq!(last.status, 200);
    let (exams, exams_time) = timed(office, "/api/examinations");
    assert_eq!(exams.status, 200);
    let exam_items = exams.json().as_array().map(Vec::len).unwrap_or_default();
    println!(
        "{students:>7} students: GET / {:>7} bytes in {:>6.1} ms (last page {:>6.1} ms); \
         GET /api/students {items} items, {:>6} bytes in {:>6.1} ms; \
         q with no match {:>6.1} ms; GET /api/examinations {exam_items} items, {:>7} bytes \
         in {:>6.1} ms; resident memory {}",
        page.body.len(),
        page_time.as_secs_f64() * 1e3,
        last_time.as_secs_f64() * 1e3,
        list.body.len(),
        list_time.as_secs_f64() * 1e3,
        search_time.as_secs_f64() * 1e3,
        exams.body.len(),
        exams_time.as_secs_f64() * 1e3,
        resident_mib(pid).map_or("unknown".to_owned(), |m| format!("{m:.0} MiB")),
    );
    assert!(
        page.body.len() < PAGE_BYTES,
        "GET / is {} bytes with {students} students",
        page.body.len()
    );
    assert_eq!(items, 100, "a list answers its default page of 100");
    assert!(
        exams.body.len() < 2 * 1024 * 1024,
        "examinations list their students, but a page stops at 10,000 of them: {} bytes",
        exams.body.len()
    );
    assert!(exams.header("link").is_some(), "more examinations remain");
    let link = list
        .header("link")
        .expect("more students remain: a Link header");
    assert!(link.contains("rel=\"next\""), "{link}");
    let text = page.text();
    assert!(
        text.contains(&format!("25 shown of {}", thousands(students))),
        "page counts"
    );
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        rest => rest,
    };
    let mut out = digits[..head].to_owned();
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).expect("ASCII digits"));
    }
    out
}

#[test]
fn the_office_page_and_list_stay_small_with_many_students() {
    let (process, office, _data) = serve_alone(OFFICE);
    let pid = process.pid();

    // The reproduction: 5,000 grades, each for its own student in its own examination.
    grade_students(&office, 0, 5_000, |n| format!("x-{n:06}"));
    measure(&office, pid, 5_000);
    // The grades matrix pages both ways: 8 examinations by 25 students at a time.
    let page = office.send("GET", "/", &[], b"").text();
    let grades = &page[page.find("id=\"grades\"").expect("the grades section")..];
    let grades = &grades[..grades.find("</section>").unwrap()];
    assert_eq!(
        grades.matches("<th scope=\"col\">").count(),
        1 + 8,
        "8 columns"
    );
    assert_eq!(grades.matches("<tr>").count(), 1 + 25, "a head and 25 rows");

    // Up to 100,000 placeholder students, in 50 examinations.
    grade_students(&office, 5_000, 100_000, |n| format!("x-{:06}", n % 50));
    measure(&office, pid, 100_000);
}
