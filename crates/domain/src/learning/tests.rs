use super::*;
use proptest::prelude::*;

fn q(kind: QuestionKind, n: usize, key: &[u8]) -> Question {
    Question {
        text: "問".into(),
        kind,
        choices: (0..n).map(|i| format!("選択肢{i}")).collect(),
        key: key.iter().copied().collect(),
        explanation: String::new(),
    }
}

fn set(v: &[u8]) -> BTreeSet<u8> {
    v.iter().copied().collect()
}

/// Ten single-choice questions keyed 0, answered right for the first `right`.
fn ten(right: usize) -> (Vec<Question>, Vec<BTreeSet<u8>>) {
    let qs: Vec<Question> = (0..10).map(|_| q(QuestionKind::Single, 4, &[0])).collect();
    let answers = (0..10)
        .map(|i| if i < right { set(&[0]) } else { set(&[1]) })
        .collect();
    (qs, answers)
}

#[test]
fn quiz_table_59_and_60_percent() {
    // 60 % of ten is six; 59 % would be between five and six, so use a set of 100 as well
    let (qs, a) = ten(6);
    assert!(Score::mark(&qs, &a).reaches(QUIZ_PASS_PERCENT));
    let (qs, a) = ten(5);
    assert!(!Score::mark(&qs, &a).reaches(QUIZ_PASS_PERCENT));
    let s59 = Score {
        correct: 59,
        total: 100,
    };
    let s60 = Score {
        correct: 60,
        total: 100,
    };
    let credit = [QuizCredit {
        code: 74,
        half_units: HalfUnits::new(2),
    }];
    assert!(quiz_credits(s59, &credit).is_empty());
    assert_eq!(quiz_credits(s60, &credit), credit.to_vec());
    // 3 of 5 is exactly 60 %
    assert!(
        Score {
            correct: 3,
            total: 5
        }
        .reaches(60)
    );
}

#[test]
fn content_table_79_and_80_percent() {
    let s79 = Score {
        correct: 79,
        total: 100,
    };
    let s80 = Score {
        correct: 80,
        total: 100,
    };
    assert!(!content_passes(s79));
    assert!(content_passes(s80));
    let (qs, a) = ten(8);
    assert!(content_passes(Score::mark(&qs, &a)));
    let (qs, a) = ten(7);
    assert!(!content_passes(Score::mark(&qs, &a)));
    // 4 of 5 exactly 80 %, 3 of 4 below
    assert!(content_passes(Score {
        correct: 4,
        total: 5
    }));
    assert!(!content_passes(Score {
        correct: 3,
        total: 4
    }));
}

#[test]
fn partly_right_multiple_choice_is_wrong() {
    let m = q(QuestionKind::Multiple, 5, &[0, 2]);
    assert!(m.is_correct(&set(&[0, 2])));
    assert!(!m.is_correct(&set(&[0])), "a subset of the key is wrong");
    assert!(
        !m.is_correct(&set(&[0, 2, 3])),
        "a superset of the key is wrong"
    );
    assert!(!m.is_correct(&set(&[])), "no answer is wrong");
    let s = Score::mark(&[m], &[set(&[2])]);
    assert_eq!(
        s,
        Score {
            correct: 0,
            total: 1
        }
    );
}

#[test]
fn authored_questions_are_checked() {
    assert_eq!(validate_questions(&[]), Err(LearningError::QuestionCount));
    assert_eq!(
        validate_questions(&[q(QuestionKind::Single, 4, &[0, 1])]),
        Err(LearningError::Key(1))
    );
    assert_eq!(
        validate_questions(&[
            q(QuestionKind::Single, 4, &[0]),
            q(QuestionKind::Multiple, 3, &[3])
        ]),
        Err(LearningError::Key(2))
    );
    assert_eq!(
        validate_questions(&[q(QuestionKind::Multiple, 1, &[0])]),
        Err(LearningError::Choices(1))
    );
    assert_eq!(
        validate_questions(&[q(QuestionKind::Multiple, 4, &[])]),
        Err(LearningError::Key(1))
    );
    assert!(validate_questions(&[q(QuestionKind::Multiple, 4, &[1, 3])]).is_ok());
    let qs = [q(QuestionKind::Single, 4, &[0])];
    assert_eq!(
        validate_answers(&qs, &[set(&[0, 1])]),
        Err(LearningError::Answer(1))
    );
    assert_eq!(
        validate_answers(&qs, &[set(&[4])]),
        Err(LearningError::Answer(1))
    );
    assert!(validate_answers(&qs, &[set(&[])]).is_ok());
}

#[test]
fn credits_dates_and_issues() {
    let c = |code, h| QuizCredit {
        code,
        half_units: HalfUnits::new(h),
    };
    assert!(validate_credits(&[c(74, 1), c(80, 2)]).is_ok());
    assert_eq!(validate_credits(&[]), Err(LearningError::Credits));
    assert_eq!(validate_credits(&[c(74, 0)]), Err(LearningError::Credits));
    assert_eq!(
        validate_credits(&[c(74, 1), c(74, 1)]),
        Err(LearningError::Credits)
    );
    let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
    let dates = QuizDates {
        opens_on: d(4, 1),
        deadline: d(4, 30),
        answers_on: d(5, 15),
    };
    assert!(dates.validate().is_ok());
    assert!(dates.accepts(d(4, 30)) && !dates.accepts(d(5, 1)) && !dates.accepts(d(3, 31)));
    assert!(!dates.published(d(5, 14)) && dates.published(d(5, 15)));
    assert_eq!(
        QuizDates {
            answers_on: d(4, 30),
            ..dates
        }
        .validate(),
        Err(LearningError::Dates)
    );
    assert_eq!(content_visible_from(d(4, 30)), d(5, 1));
    let i = JournalIssue::parse("2026-04").unwrap();
    assert!(!i.is_special());
    assert_eq!(i.as_string(), "2026-04");
    let s = JournalIssue::parse("2026-S2").unwrap();
    assert!(s.is_special());
    assert_eq!(s.as_string(), "2026-S2");
    for bad in ["2026-13", "2026-4", "26-04", "2026/04", "2026-S3", ""] {
        assert_eq!(JournalIssue::parse(bad), Err(LearningError::Issue), "{bad}");
    }
}

#[test]
fn closing_the_shortfall() {
    let missing: BTreeSet<u16> = [74, 80].into_iter().collect();
    // 1 unit in a missing code: 2 half-units + 2 for the code
    assert_eq!(closes(10, &missing, &[(74, HalfUnits::new(2))]), 4);
    // an earned code only adds its units
    assert_eq!(closes(10, &missing, &[(1, HalfUnits::new(2))]), 2);
    // both missing codes
    assert_eq!(
        closes(
            20,
            &missing,
            &[(74, HalfUnits::new(1)), (80, HalfUnits::new(1))]
        ),
        6
    );
    // the same code twice counts once as a code
    assert_eq!(
        closes(
            20,
            &missing,
            &[(74, HalfUnits::new(1)), (74, HalfUnits::new(1))]
        ),
        4
    );
    // capped at the shortfall
    assert_eq!(closes(3, &missing, &[(74, HalfUnits::new(4))]), 3);
    assert_eq!(closes(0, &missing, &[(74, HalfUnits::new(4))]), 0);
}

// ---------------------------------------------------------------- the naive model

/// Written from the rule's text: "a question is correct only when exactly its set of choices
/// is given" — compare choice by choice.
fn naive_correct(n: usize, key: &[u8], given: &[u8]) -> bool {
    (0..n as u8).all(|c| key.contains(&c) == given.contains(&c))
}

/// "≥ 60 % correct" as the fraction 3/5, "≥ 80 %" as 4/5.
fn naive_passes(correct: usize, total: usize, fifths: usize) -> bool {
    total > 0 && correct * 5 >= total * fifths
}

fn question() -> impl Strategy<Value = (Question, Vec<u8>)> {
    (2usize..=6, any::<bool>()).prop_flat_map(|(n, multiple)| {
        let key = if multiple {
            proptest::collection::btree_set(0..n as u8, 1..=n).boxed()
        } else {
            (0..n as u8)
                .prop_map(|k| std::iter::once(k).collect())
                .boxed()
        };
        let given = proptest::collection::vec(0..n as u8, 0..=n);
        (key, given).prop_map(move |(key, given)| {
            let kind = if multiple {
                QuestionKind::Multiple
            } else {
                QuestionKind::Single
            };
            (
                Question {
                    text: "q".into(),
                    kind,
                    choices: (0..n).map(|i| i.to_string()).collect(),
                    key,
                    explanation: String::new(),
                },
                given,
            )
        })
    })
}

proptest! {
    #[test]
    fn marking_matches_the_naive_model(qs in proptest::collection::vec(question(), 1..30)) {
        let questions: Vec<Question> = qs.iter().map(|(q, _)| q.clone()).collect();
        let answers: Vec<BTreeSet<u8>> =
            qs.iter().map(|(_, g)| g.iter().copied().collect()).collect();
        let naive_right = qs
            .iter()
            .filter(|(q, g)| {
                let key: Vec<u8> = q.key.iter().copied().collect();
                naive_correct(q.choices.len(), &key, g)
            })
            .count();
        let s = Score::mark(&questions, &answers);
        prop_assert_eq!(s.correct as usize, naive_right);
        prop_assert_eq!(s.total as usize, qs.len());
        prop_assert_eq!(s.reaches(QUIZ_PASS_PERCENT), naive_passes(naive_right, qs.len(), 3));
        prop_assert_eq!(content_passes(s), naive_passes(naive_right, qs.len(), 4));
        let credit = [QuizCredit { code: 1, half_units: HalfUnits::new(1) }];
        prop_assert_eq!(
            quiz_credits(s, &credit).len(),
            usize::from(naive_passes(naive_right, qs.len(), 3))
        );
    }

    #[test]
    fn thresholds_match_fifths(correct in 0u32..500, extra in 0u32..500) {
        let total = correct + extra;
        let s = Score { correct, total };
        prop_assert_eq!(s.reaches(60), naive_passes(correct as usize, total as usize, 3));
        prop_assert_eq!(s.reaches(80), naive_passes(correct as usize, total as usize, 4));
    }

    #[test]
    fn closes_never_exceeds_the_shortfall_or_the_naive_gain(
        shortfall in 0i64..200,
        missing in proptest::collection::btree_set(1u16..85, 0..20),
        offer in proptest::collection::vec((1u16..85, 1i64..6), 0..6),
    ) {
        let pairs: Vec<(u16, HalfUnits)> =
            offer.iter().map(|&(c, h)| (c, HalfUnits::new(h))).collect();
        let got = closes(shortfall, &missing, &pairs);
        // naive: units plus two half-points per distinct missing code in the offer
        let units: i64 = offer.iter().map(|&(_, h)| h).sum();
        let mut distinct: Vec<u16> =
            offer.iter().map(|&(c, _)| c).filter(|c| missing.contains(c)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let naive = (units + 2 * distinct.len() as i64).min(shortfall);
        prop_assert_eq!(got, naive);
    }
}
