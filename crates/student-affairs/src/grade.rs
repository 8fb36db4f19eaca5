//! German grades and the two grading schemes of the story.
//!
//! A [`Grade`] is one of the eleven German grades, 1.0 (best) to 4.0 (the last pass) and 5.0
//! (fail). It travels as a JSON number (`1.3`), never as a string.
//!
//! # The SE group's scheme: [`se_grade`]
//!
//! The share of points a student reached over all assignments of the examination (an
//! assignment not scored counts as 0 points) gives the grade:
//!
//! | share reached | grade | | share reached | grade |
//! |---------------|-------|-|---------------|-------|
//! | ≥ 95 %        | 1.0   | | ≥ 70 %        | 2.7   |
//! | ≥ 90 %        | 1.3   | | ≥ 65 %        | 3.0   |
//! | ≥ 85 %        | 1.7   | | ≥ 60 %        | 3.3   |
//! | ≥ 80 %        | 2.0   | | ≥ 55 %        | 3.7   |
//! | ≥ 75 %        | 2.3   | | ≥ 50 %        | 4.0   |
//! |               |       | | below 50 %    | 5.0   |
//!
//! Worked examples, for an examination with three assignments of 10, 20 and 20 points:
//! - 9 + 18 + 17 = 44 of 50 points is 88 %: grade **1.7**.
//! - 10 + 20 and the third not handed in: 30 of 50 points is 60 %: grade **3.3**.
//!
//! # The theory group's scheme: [`theory_grade`]
//!
//! A seminar presentation is rated three times with German grades: content (weight 50 %),
//! presentation (30 %) and discussion (20 %). A weighted average above 4.0 fails with 5.0;
//! otherwise it is rounded to the nearest German grade between 1.0 and 4.0, a tie going to
//! the better grade.
//!
//! Worked examples:
//! - content 1.3, presentation 1.7, discussion 2.0: 0.65 + 0.51 + 0.40 = 1.56, nearest 1.7
//!   (0.14 away; 1.3 is 0.26 away): grade **1.7**.
//! - content 1.0, presentation 2.0, discussion 2.0: 0.50 + 0.60 + 0.40 = 1.50, exactly between
//!   1.3 and 1.7: the better, grade **1.3**.
//! - content 4.0, presentation 5.0, discussion 3.7: 2.00 + 1.50 + 0.74 = 4.24, above 4.0:
//!   grade **5.0**.
//!
//! Both schemes compute in integers (tenths and hundredths), so no rounding error can move a
//! grade across a boundary.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::Value;

/// One of the eleven German grades; lower is better.
///
/// Kept as tenths (13 for 1.3) so that comparing and computing are exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grade(u8);

impl Grade {
    pub const G1_0: Grade = Grade(10);
    pub const G1_3: Grade = Grade(13);
    pub const G1_7: Grade = Grade(17);
    pub const G2_0: Grade = Grade(20);
    pub const G2_3: Grade = Grade(23);
    pub const G2_7: Grade = Grade(27);
    pub const G3_0: Grade = Grade(30);
    pub const G3_3: Grade = Grade(33);
    pub const G3_7: Grade = Grade(37);
    pub const G4_0: Grade = Grade(40);
    pub const G5_0: Grade = Grade(50);

    /// Every German grade, best first.
    pub const ALL: [Grade; 11] = [
        Grade::G1_0,
        Grade::G1_3,
        Grade::G1_7,
        Grade::G2_0,
        Grade::G2_3,
        Grade::G2_7,
        Grade::G3_0,
        Grade::G3_3,
        Grade::G3_7,
        Grade::G4_0,
        Grade::G5_0,
    ];

    /// The grade with this many tenths (13 → 1.3), if it is a German grade.
    pub fn from_tenths(tenths: u8) -> Option<Grade> {
        Grade::ALL.into_iter().find(|g| g.0 == tenths)
    }

    /// The grade equal to this number, if it is one. `1`, `1.0` and `1.00` all give 1.0.
    pub fn from_f64(value: f64) -> Option<Grade> {
        Grade::ALL.into_iter().find(|g| g.as_f64() == value)
    }

    /// The grade a JSON value holds, if it is a number equal to a German grade.
    pub fn from_json(value: &Value) -> Option<Grade> {
        value.as_f64().and_then(Grade::from_f64)
    }

    pub fn tenths(self) -> u8 {
        self.0
    }

    /// As a number; `13 / 10` is correctly rounded, so this is exactly the literal `1.3`.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    pub fn is_pass(self) -> bool {
        self <= Grade::G4_0
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

impl Serialize for Grade {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Grade {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Grade::from_f64(value).ok_or_else(|| de::Error::custom(not_a_grade(&value)))
    }
}

/// The message for a number that is not a German grade.
pub fn not_a_grade(value: &dyn fmt::Display) -> String {
    format!("{value} is not a German grade (one of 1.0 1.3 1.7 2.0 2.3 2.7 3.0 3.3 3.7 4.0 5.0)")
}

/// The SE thresholds: the least percentage of points that earns each passing grade.
const SE_THRESHOLDS: [(u128, Grade); 10] = [
    (95, Grade::G1_0),
    (90, Grade::G1_3),
    (85, Grade::G1_7),
    (80, Grade::G2_0),
    (75, Grade::G2_3),
    (70, Grade::G2_7),
    (65, Grade::G3_0),
    (60, Grade::G3_3),
    (55, Grade::G3_7),
    (50, Grade::G4_0),
];

/// The SE group's grade for `reached` of `total` points (see the module documentation).
/// `None` when `total` is 0: an examination without assignments cannot be graded.
pub fn se_grade(reached: u64, total: u64) -> Option<Grade> {
    if total == 0 {
        return None;
    }
    // reached / total >= percent / 100, without division.
    let (reached, total) = (u128::from(reached), u128::from(total));
    Some(
        SE_THRESHOLDS
            .iter()
            .find(|(percent, _)| reached * 100 >= percent * total)
            .map_or(Grade::G5_0, |(_, grade)| *grade),
    )
}

/// The three ratings of one seminar presentation, each a German grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ratings {
    pub content: Grade,
    pub presentation: Grade,
    pub discussion: Grade,
}

impl Ratings {
    /// The weighted average 50/30/20 in hundredths (156 for 1.56).
    pub fn weighted_hundredths(self) -> u32 {
        5 * u32::from(self.content.0)
            + 3 * u32::from(self.presentation.0)
            + 2 * u32::from(self.discussion.0)
    }
}

/// The theory group's grade for a rated presentation (see the module documentation).
pub fn theory_grade(ratings: Ratings) -> Grade {
    let weighted = ratings.weighted_hundredths();
    if weighted > 400 {
        return Grade::G5_0;
    }
    // Grades are scanned best first and only a strictly nearer one replaces the pick, so a
    // tie keeps the better grade.
    let mut best = Grade::G1_0;
    for grade in Grade::ALL.into_iter().filter(|g| g.is_pass()) {
        let distance = u32::from(grade.0) * 10;
        if distance.abs_diff(weighted) < (u32::from(best.0) * 10).abs_diff(weighted) {
            best = grade;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(value: f64) -> Grade {
        Grade::from_f64(value).unwrap()
    }

    #[test]
    fn grades_travel_as_json_numbers() {
        assert_eq!(serde_json::to_string(&Grade::G1_3).unwrap(), "1.3");
        assert_eq!(serde_json::to_string(&Grade::G1_0).unwrap(), "1.0");
        assert_eq!(serde_json::to_value(Grade::G5_0).unwrap(), json!(5.0));
        for grade in Grade::ALL {
            let text = serde_json::to_string(&grade).unwrap();
            assert_eq!(serde_json::from_str::<Grade>(&text).unwrap(), grade);
            assert_eq!(text, grade.to_string());
        }
        assert_eq!(Grade::from_json(&json!(1)), Some(Grade::G1_0));
        assert_eq!(Grade::from_json(&json!(4)), Some(Grade::G4_0));
        for bad in [
            json!(1.5),
            json!(0),
            json!(4.3),
            json!(6.0),
            json!("1.3"),
            json!(null),
        ] {
            assert_eq!(Grade::from_json(&bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<Grade>("2.5").is_err());
        assert!(serde_json::from_str::<Grade>("\"2.0\"").is_err());
    }

    #[test]
    fn se_worked_examples() {
        // Assignments of 10, 20 and 20 points.
        assert_eq!(se_grade(9 + 18 + 17, 50), Some(Grade::G1_7), "88 %");
        assert_eq!(se_grade(10 + 20, 50), Some(Grade::G3_3), "60 %");
    }

    #[test]
    fn se_boundaries_are_inclusive() {
        let cases = [
            (100, 1.0),
            (95, 1.0),
            (94, 1.3),
            (90, 1.3),
            (89, 1.7),
            (85, 1.7),
            (80, 2.0),
            (79, 2.3),
            (75, 2.3),
            (70, 2.7),
            (65, 3.0),
            (60, 3.3),
            (55, 3.7),
            (54, 4.0),
            (50, 4.0),
            (49, 5.0),
            (0, 5.0),
        ];
        for (percent, grade) in cases {
            assert_eq!(se_grade(percent, 100), Some(g(grade)), "{percent} %");
        }
        // 199 of 400 is 49.75 %: just below the pass mark, no rounding up.
        assert_eq!(se_grade(199, 400), Some(Grade::G5_0));
        assert_eq!(se_grade(200, 400), Some(Grade::G4_0));
        assert_eq!(se_grade(0, 0), None);
        assert_eq!(
            se_grade(120, 100),
            Some(Grade::G1_0),
            "more than all is still 1.0"
        );
        assert_eq!(
            se_grade(u64::MAX, u64::MAX),
            Some(Grade::G1_0),
            "no overflow"
        );
    }

    fn rated(content: f64, presentation: f64, discussion: f64) -> Grade {
        theory_grade(Ratings {
            content: g(content),
            presentation: g(presentation),
            discussion: g(discussion),
        })
    }

    #[test]
    fn theory_worked_examples() {
        assert_eq!(rated(1.3, 1.7, 2.0), Grade::G1_7, "1.56");
        assert_eq!(rated(1.0, 2.0, 2.0), Grade::G1_3, "1.50 ties to the better");
        assert_eq!(rated(4.0, 5.0, 3.7), Grade::G5_0, "4.24 fails");
    }

    #[test]
    fn theory_edges() {
        assert_eq!(rated(1.0, 1.0, 1.0), Grade::G1_0);
        assert_eq!(rated(4.0, 4.0, 4.0), Grade::G4_0, "exactly 4.0 passes");
        assert_eq!(rated(5.0, 5.0, 5.0), Grade::G5_0);
        // 0.5·3.7 + 0.3·4.0 + 0.2·5.0 = 4.05: above 4.0.
        assert_eq!(rated(3.7, 4.0, 5.0), Grade::G5_0);
        // 0.5·5.0 + 0.3·1.0 + 0.2·1.0 = 3.0: a failed content alone does not fail.
        assert_eq!(rated(5.0, 1.0, 1.0), Grade::G3_0);
        // 0.5·2.0 + 0.3·2.3 + 0.2·2.7 = 2.23: nearer 2.3 (0.07) than 2.0 (0.23).
        assert_eq!(rated(2.0, 2.3, 2.7), Grade::G2_3);
        // 0.5·2.0 + 0.3·2.0 + 0.2·2.3 = 2.06: nearer 2.0.
        assert_eq!(rated(2.0, 2.0, 2.3), Grade::G2_0);
    }

    #[test]
    fn theory_never_gives_a_grade_worse_than_the_average_suggests() {
        for c in Grade::ALL {
            for p in Grade::ALL {
                for d in Grade::ALL {
                    let ratings = Ratings {
                        content: c,
                        presentation: p,
                        discussion: d,
                    };
                    let weighted = ratings.weighted_hundredths();
                    let grade = theory_grade(ratings);
                    if weighted > 400 {
                        assert_eq!(grade, Grade::G5_0);
                    } else {
                        let distance = (u32::from(grade.tenths()) * 10).abs_diff(weighted);
                        assert!(distance <= 20, "{ratings:?} → {grade}");
                        assert!(grade.is_pass());
                    }
                }
            }
        }
    }
}
