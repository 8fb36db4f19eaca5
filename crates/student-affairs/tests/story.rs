//! The paper's whole story through the real runtime: four services on in-memory stores,
//! commands through their routes, events relayed along the default topology
//! by hand, and at the end the shared data views compared and every model rebuilt from its
//! store.

use concord_core::runtime::{Disposition, External, PutReport, Reply, Request, SeededEnv};
use concord_core::service::{Api, Handler, QueryError};
use concord_core::store::MemoryStore;
use concord_core::{
    CloudEvent, CommandError, DataFilter, EventReader, ReadQuery, ServiceCore, ServiceSpec,
    StoredEvent, Timestamp,
};
use serde_json::{json, Value};
use student_affairs::{
    Group, SeGroup, StudentsOffice, TaPool, TheoryGroup, SE_GROUP, STUDENTS_OFFICE, THEORY_GROUP,
};

struct Node<S: ServiceSpec> {
    core: ServiceCore<S::Model>,
    store: MemoryStore,
    api: Api<S::Model>,
    spec: S,
}

impl<S: ServiceSpec + Clone> Node<S> {
    fn open(spec: S) -> Self {
        let store = MemoryStore::new();
        let core = ServiceCore::open(
            spec.name(),
            spec.catalogue(),
            spec.default_acceptance(),
            &store,
        )
        .expect("a memory store opens");
        Node {
            core,
            store,
            api: spec.api(),
            spec,
        }
    }

    fn model(&self) -> &S::Model {
        self.core.model()
    }

    fn command(
        &mut self,
        env: &mut SeededEnv,
        path: &str,
        body: Value,
    ) -> Result<Vec<StoredEvent>, CommandError> {
        env.advance_millis(5);
        let (route, params) = self.api.route("POST", path).expect("a command route");
        let Handler::Command(handler) = &route.handler else {
            unreachable!()
        };
        let command = handler(&params, body)?;
        match self.run(env, Request::Command(command)) {
            Reply::Command(result) => result,
            Reply::External(_) => unreachable!(),
        }
    }

    fn query(&self, path: &str) -> Result<Value, CommandError> {
        let (route, params) = self.api.route("GET", path).expect("a query route");
        let Handler::Query(handler) = &route.handler else {
            unreachable!()
        };
        match handler.run(self.model(), &params, []) {
            Ok(answer) => Ok(answer.body),
            Err(QueryError::Command(error)) => Err(error),
            Err(QueryError::List(error)) => panic!("no query parameters, yet {error}"),
        }
    }

    fn put(&mut self, env: &mut SeededEnv, events: Vec<CloudEvent>) -> PutReport {
        self.core.validate(&events).expect("well-formed events");
        let incoming = External::put(events).decode(&**self.core.catalogue());
        match self.run(env, Request::External(incoming)) {
            Reply::External(report) => report.expect("well-formed events"),
            Reply::Command(_) => unreachable!(),
        }
    }

    fn run(&mut self, env: &mut SeededEnv, request: Request<S::Model>) -> Reply {
        let mut replies = self
            .core
            .execute(&self.store, env, vec![request])
            .expect("memory never fails");
        replies.pop().expect("one reply per request")
    }

    /// What a getEvents with these filters would serve.
    fn serve(&self, ty: &str, data: Option<(&str, &str)>) -> Vec<CloudEvent> {
        let mut query = ReadQuery::after(0, ReadQuery::MAX_LIMIT);
        query.types = vec![ty.to_owned()];
        query.data = data
            .into_iter()
            .map(|(f, v)| DataFilter::new(f, v))
            .collect();
        let page = self.store.read(&query).expect("memory never fails");
        assert!(!page.has_more);
        page.events.into_iter().map(|stored| stored.event).collect()
    }

    /// A fresh core replayed from the same store: the state the service restarts with.
    fn replayed(&self) -> ServiceCore<S::Model> {
        ServiceCore::open(
            self.spec.name(),
            self.spec.catalogue(),
            self.spec.default_acceptance(),
            &self.store,
        )
        .expect("replay")
    }
}

#[test]
fn the_student_affairs_story_converges() {
    let mut env = SeededEnv::new(42, Timestamp::parse("2026-11-26T09:00:00Z").unwrap());
    let mut office = Node::open(StudentsOffice);
    let mut se = Node::open(SeGroup);
    let mut theory = Node::open(TheoryGroup);
    let mut pool = Node::open(TaPool);

    // The office creates students and examinations and enrolls everyone in both.
    for (id, name) in [("s-1", "Ada Lovelace"), ("s-2", "Grace Hopper")] {
        office
            .command(
                &mut env,
                "/api/students",
                json!({"studentId": id, "name": name}),
            )
            .unwrap();
    }
    office
        .command(
            &mut env,
            "/api/examinations",
            json!({"examinationId": "x-se", "title": "Modelling", "group": "se-group"}),
        )
        .unwrap();
    office
        .command(
            &mut env,
            "/api/examinations",
            json!({"examinationId": "x-th", "title": "Logic seminar", "group": "theory-group"}),
        )
        .unwrap();
    for student in ["s-1", "s-2"] {
        for exam in ["x-se", "x-th"] {
            let raised = office
                .command(
                    &mut env,
                    "/api/enrollments",
                    json!({"studentId": student, "examinationId": exam}),
                )
                .unwrap();
            assert_eq!(raised.len(), 1);
        }
    }

    // Each group pulls the enrollments in its own examinations.
    let report = se.put(
        &mut env,
        office.serve("studentEnrolled", Some(("group", SE_GROUP))),
    );
    assert_eq!(report.accepted(), 2);
    let report = theory.put(
        &mut env,
        office.serve("studentEnrolled", Some(("group", THEORY_GROUP))),
    );
    assert_eq!(report.accepted(), 2);
    // An unfiltered pull: the other group's enrollments are ignored, not stored.
    let report = se.put(&mut env, office.serve("studentEnrolled", None));
    assert_eq!((report.duplicates(), report.ignored()), (2, 2));

    // The SE group sets assignments, scores and grades.
    for (id, max) in [("a-1", 10), ("a-2", 20), ("a-3", 20)] {
        se.command(
            &mut env,
            "/api/assignments",
            json!({"assignmentId": id, "examinationId": "x-se", "title": id, "maxPoints": max}),
        )
        .unwrap();
    }
    for (student, points) in [("s-1", [9, 18, 17]), ("s-2", [5, 10, 9])] {
        for (assignment, p) in ["a-1", "a-2", "a-3"].iter().zip(points) {
            se.command(
                &mut env,
                &format!("/api/assignments/{assignment}/scores"),
                json!({"studentId": student, "points": p}),
            )
            .unwrap();
        }
        se.command(
            &mut env,
            "/api/grades",
            json!({"studentId": student, "examinationId": "x-se"}),
        )
        .unwrap();
    }

    // The theory group rates and grades.
    for (student, ratings) in [("s-1", [1.0, 2.0, 2.0]), ("s-2", [4.0, 5.0, 3.7])] {
        theory
            .command(
                &mut env,
                "/api/presentations",
                json!({"studentId": student, "examinationId": "x-th",
                "content": ratings[0], "presentation": ratings[1], "discussion": ratings[2]}),
            )
            .unwrap();
        theory
            .command(
                &mut env,
                "/api/grades",
                json!({"studentId": student, "examinationId": "x-th"}),
            )
            .unwrap();
    }

    // The SE group hires Ada; the pool learns it; the theory group learns it from the pool.
    se.command(&mut env, "/api/hires", json!({"studentId": "s-1"}))
        .unwrap();
    assert_eq!(
        pool.put(&mut env, se.serve("studentHired", None))
            .accepted(),
        1
    );
    assert_eq!(
        theory
            .put(&mut env, pool.serve("studentHired", None))
            .accepted(),
        1
    );
    let refused = theory.command(&mut env, "/api/hires", json!({"studentId": "s-1"}));
    assert!(
        matches!(refused, Err(CommandError::Conflict(_))),
        "{refused:?}"
    );
    theory
        .command(&mut env, "/api/hires", json!({"studentId": "s-2"}))
        .unwrap();
    assert_eq!(
        pool.put(&mut env, theory.serve("studentHired", None))
            .accepted(),
        1
    );
    let back = se.put(&mut env, pool.serve("studentHired", None));
    assert_eq!(
        (back.accepted(), back.duplicates()),
        (1, 1),
        "its own hire comes back as a duplicate"
    );

    // Both groups push their grades to the office.
    assert_eq!(
        office
            .put(&mut env, se.serve("studentGraded", None))
            .accepted(),
        2
    );
    assert_eq!(
        office
            .put(&mut env, theory.serve("studentGraded", None))
            .accepted(),
        2
    );
    let again = office.put(&mut env, se.serve("studentGraded", None));
    assert!(again
        .results
        .iter()
        .all(|(_, d)| *d == Disposition::Duplicate));

    // The office shows the final grades: Ada 44/50 → 1.7 and 1.50 → 1.3; Grace 24/50 → 5.0
    // and 4.24 → 5.0.
    let ada = office.query("/api/students/s-1").unwrap();
    let grade_of = |answer: &Value, exam: &str| {
        answer["enrollments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["examinationId"] == exam)
            .map(|e| e["grade"].clone())
            .unwrap()
    };
    assert_eq!(grade_of(&ada, "x-se"), json!(1.7));
    assert_eq!(grade_of(&ada, "x-th"), json!(1.3));
    let grace = office.query("/api/students/s-2").unwrap();
    assert_eq!(grade_of(&grace, "x-se"), json!(5.0));
    assert_eq!(grade_of(&grace, "x-th"), json!(5.0));

    // The shared data views agree.
    let by_group = office.model().enrollments_by_group();
    assert_eq!(by_group[&Group::SeGroup], se.model().enrollments());
    assert_eq!(by_group[&Group::TheoryGroup], theory.model().enrollments());
    assert_eq!(
        office.model().grades_given_by(Group::SeGroup),
        se.model().grades()
    );
    assert_eq!(
        office.model().grades_given_by(Group::TheoryGroup),
        theory.model().grades()
    );
    assert_eq!(se.model().hires(), pool.model().hires());
    assert_eq!(theory.model().hires(), pool.model().hires());
    assert_eq!(pool.model().hires().len(), 2);
    assert_eq!(
        pool.query("/api/tas/s-1").unwrap(),
        json!({"studentId": "s-1", "name": "Ada Lovelace", "hiredBy": ["se-group"], "conflict": false})
    );

    // Every service restarts with exactly the state it had (R1: replay is the same apply).
    assert_eq!(office.replayed().model(), office.model());
    assert_eq!(se.replayed().model(), se.model());
    assert_eq!(theory.replayed().model(), theory.model());
    assert_eq!(pool.replayed().model(), pool.model());
}

/// One round of the default topology: the groups pull their enrollments from
/// the office and the hires from the pool; they push their grades to the office and their
/// hires to the pool. Returns how many events were accepted anywhere.
fn sync_round(
    env: &mut SeededEnv,
    office: &mut Node<StudentsOffice>,
    se: &mut Node<SeGroup>,
    theory: &mut Node<TheoryGroup>,
    pool: &mut Node<TaPool>,
) -> usize {
    let mut accepted = 0;
    accepted += se
        .put(
            env,
            office.serve("studentEnrolled", Some(("group", SE_GROUP))),
        )
        .accepted();
    accepted += theory
        .put(
            env,
            office.serve("studentEnrolled", Some(("group", THEORY_GROUP))),
        )
        .accepted();
    accepted += office.put(env, se.serve("studentGraded", None)).accepted();
    accepted += office
        .put(env, theory.serve("studentGraded", None))
        .accepted();
    accepted += pool.put(env, se.serve("studentHired", None)).accepted();
    accepted += pool.put(env, theory.serve("studentHired", None)).accepted();
    accepted += se.put(env, pool.serve("studentHired", None)).accepted();
    accepted += theory.put(env, pool.serve("studentHired", None)).accepted();
    accepted
}

#[test]
fn the_sample_story_seeds_cleanly_and_twice_changes_nothing() {
    let mut env = SeededEnv::new(7, Timestamp::parse("2026-11-26T09:00:00Z").unwrap());
    let mut office = Node::open(StudentsOffice);
    let mut se = Node::open(SeGroup);
    let mut theory = Node::open(TheoryGroup);
    let mut pool = Node::open(TaPool);
    for round in 0..2 {
        let mut raised = 0;
        for phase in student_affairs::sample::sample_story() {
            for step in phase {
                let (path, body) = (step.path.as_str(), step.body.clone());
                let result = match step.service {
                    STUDENTS_OFFICE => office.command(&mut env, path, body),
                    SE_GROUP => se.command(&mut env, path, body),
                    THEORY_GROUP => theory.command(&mut env, path, body),
                    other => panic!("the sample sends no command to {other}"),
                };
                raised += result.unwrap_or_else(|e| panic!("{step:?}: {e}")).len();
            }
            sync_round(&mut env, &mut office, &mut se, &mut theory, &mut pool);
        }
        if round == 1 {
            assert_eq!(raised, 0, "seeding again raises nothing");
        }
    }
    assert_eq!(
        sync_round(&mut env, &mut office, &mut se, &mut theory, &mut pool),
        0
    );
    assert_eq!(office.model().grades().len(), 5);
    assert_eq!(
        office.model().grades_given_by(Group::SeGroup),
        se.model().grades()
    );
    assert_eq!(pool.model().hires().len(), 2);
    assert_eq!(se.model().hires(), pool.model().hires());
    assert_eq!(theory.model().hires(), pool.model().hires());
}
