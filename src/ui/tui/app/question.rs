//! The model's questions (`AskUserQuestion`) in place of the composer: one question at a
//! time, its options to pick from (several with `multiSelect`), and a last line where the
//! user may answer in their own words. The answers go back as the call's approval, with
//! `answers` (question → answer) added to its input; Esc declines them all.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

use super::App;
use crate::protocol::{ApprovalDecision, Op};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub question: String,
    pub header: String,
    /// (label, description)
    pub options: Vec<(String, String)>,
    pub multi_select: bool,
}

#[derive(Clone, Debug)]
pub struct QuestionDialog {
    pub call_id: String,
    pub input: Value,
    pub questions: Vec<Question>,
    /// The question shown.
    pub current: usize,
    /// The line the cursor is on: an option, or the last line (the user's own words).
    pub selected: usize,
    /// Options ticked, for a question with `multiSelect`.
    pub ticked: Vec<bool>,
    /// What the user typed on the last line.
    pub own_words: String,
    pub answers: BTreeMap<String, String>,
    /// A step of `/rewind` rather than the model's questions.
    pub rewind: Option<super::rewind::Step>,
}

impl QuestionDialog {
    /// The dialog for an `AskUserQuestion` call; `None` if its input holds no questions.
    pub fn new(call_id: String, input: Value) -> Option<QuestionDialog> {
        let questions: Vec<Question> = input["questions"]
            .as_array()?
            .iter()
            .map(|q| Question {
                question: q["question"].as_str().unwrap_or_default().to_owned(),
                header: q["header"].as_str().unwrap_or_default().to_owned(),
                options: q["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        let text = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
                        (text("label"), text("description"))
                    })
                    .collect(),
                multi_select: q["multiSelect"].as_bool().unwrap_or(false),
            })
            .collect();
        let first = questions.first()?;
        let ticked = vec![false; first.options.len()];
        Some(QuestionDialog {
            call_id,
            input,
            questions,
            current: 0,
            selected: 0,
            ticked,
            own_words: String::new(),
            answers: BTreeMap::new(),
            rewind: None,
        })
    }

    /// A question of cairn's own (a `/rewind` step): one choice among `options`.
    pub fn choice(
        header: &str,
        question: &str,
        options: Vec<(String, String)>,
        step: super::rewind::Step,
    ) -> QuestionDialog {
        let ticked = vec![false; options.len()];
        let question =
            Question { question: question.to_owned(), header: header.to_owned(), options, multi_select: false };
        QuestionDialog {
            call_id: String::new(),
            input: Value::Null,
            questions: vec![question],
            current: 0,
            selected: 0,
            ticked,
            own_words: String::new(),
            answers: BTreeMap::new(),
            rewind: Some(step),
        }
    }

    /// The option chosen for the question shown (`None`: the user's own words).
    pub fn chosen(&self) -> Option<usize> {
        (self.selected < self.own_line()).then_some(self.selected)
    }

    pub fn question(&self) -> &Question {
        &self.questions[self.current]
    }

    /// The line for the user's own words: after the options.
    pub fn own_line(&self) -> usize {
        self.question().options.len()
    }

    /// The answer to the question shown, as it stands; `None` when nothing is chosen.
    fn answer(&self) -> Option<String> {
        let question = self.question();
        let own = self.own_words.trim();
        if question.multi_select {
            let mut chosen: Vec<&str> =
                question.options.iter().zip(&self.ticked).filter(|(_, t)| **t).map(|(o, _)| o.0.as_str()).collect();
            if !own.is_empty() {
                chosen.push(own);
            }
            return (!chosen.is_empty()).then(|| chosen.join(", "));
        }
        match question.options.get(self.selected) {
            Some((label, _)) => Some(label.clone()),
            None => (!own.is_empty()).then(|| own.to_owned()),
        }
    }

    /// Records the answer and moves on; whether every question is answered.
    fn advance(&mut self, answer: String) -> bool {
        let question = self.question().question.clone();
        self.answers.insert(question, answer);
        self.current += 1;
        if self.current >= self.questions.len() {
            return true;
        }
        self.selected = 0;
        self.own_words.clear();
        self.ticked = vec![false; self.question().options.len()];
        false
    }
}

impl App {
    pub(super) fn question_key(&mut self, key: KeyEvent) {
        let Some(dialog) = &mut self.question else { return };
        let lines = dialog.own_line() + 1;
        let typing = dialog.selected == dialog.own_line();
        let multi = dialog.question().multi_select;
        let plain = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let mut answered = None;
        match key.code {
            KeyCode::Up | KeyCode::BackTab => dialog.selected = dialog.selected.checked_sub(1).unwrap_or(lines - 1),
            KeyCode::Down | KeyCode::Tab => dialog.selected = (dialog.selected + 1) % lines,
            KeyCode::Char(c @ '1'..='9') if plain && !typing => {
                let n = c as usize - '1' as usize;
                if n < dialog.own_line() {
                    dialog.selected = n;
                    if multi {
                        dialog.ticked[n] = !dialog.ticked[n];
                    } else {
                        answered = dialog.answer();
                    }
                }
            }
            KeyCode::Char(' ') if multi && !typing => {
                let n = dialog.selected;
                dialog.ticked[n] = !dialog.ticked[n];
            }
            KeyCode::Enter => answered = dialog.answer(),
            KeyCode::Backspace if typing => {
                dialog.own_words.pop();
            }
            KeyCode::Char(c) if typing && plain => dialog.own_words.push(c),
            KeyCode::Esc => return self.decline_questions(false),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                return self.decline_questions(true);
            }
            _ => {}
        }
        let Some(answer) = answered else { return };
        if dialog.rewind.is_some() {
            let Some(dialog) = self.question.take() else { return };
            return self.rewind_chosen(&dialog);
        }
        if !dialog.advance(answer) {
            return;
        }
        let Some(dialog) = self.question.take() else { return };
        let mut input = dialog.input;
        let shown: Vec<String> = dialog.answers.iter().map(|(q, a)| format!("{q} → {a}")).collect();
        input["answers"] = serde_json::to_value(&dialog.answers).unwrap_or_default();
        self.notice(format!("Answered: {}", shown.join("; ")));
        self.ops.push(Op::ApprovalAnswer { call_id: dialog.call_id, decision: ApprovalDecision::AllowWith { input } });
    }

    fn decline_questions(&mut self, interrupt: bool) {
        let Some(dialog) = self.question.take() else { return };
        if dialog.rewind.is_some() {
            return self.notice("Rewind cancelled");
        }
        if interrupt {
            self.ops.push(Op::Interrupt);
        }
        self.notice("Questions declined");
        let reason = Some("The user declined to answer the questions.".to_owned());
        self.ops.push(Op::ApprovalAnswer { call_id: dialog.call_id, decision: ApprovalDecision::Deny { reason } });
    }
}
