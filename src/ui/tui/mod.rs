//! The interactive terminal UI: a front end over the core's event stream, like `-p`.
//!
//! [`run`] owns the terminal: raw mode, bracketed paste and the keyboard protocol on the way
//! in, everything restored on the way out — on exit, on panic, on SIGTERM and SIGHUP. One
//! `select!` merges terminal input, the core's events and a frame timer; the timer is armed
//! only while something must be drawn or moves on screen (a spinner, a countdown), so an
//! idle cairn makes no wake-ups at all. Redraws are coalesced to at most one per
//! [`FRAME`]. `app` holds the state, `view` draws the live area, `screen` puts it on the
//! terminal (finished lines into the scrollback), `pager` is Ctrl-T.

pub mod app;
pub mod cells;
pub mod commands;
pub mod composer;
pub mod files;
pub mod highlight;
pub mod history;
pub mod markdown;
pub mod pager;
pub mod picker;
pub mod replay;
pub mod screen;
pub mod status_line;
pub mod theme;
pub mod view;
pub mod wrap;

use std::io::{self, Stdout, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream, KeyEventKind,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::agent::AgentHandle;
use crate::protocol::Op;
use crate::provider::models::ModelInfo;
use crate::session::Store;
use app::App;
use history::PromptHistory;
use pager::Pager;
use screen::{Mode, Screen};
use theme::Theme;

/// At most one redraw per frame: 60 per second.
const FRAME: Duration = Duration::from_millis(16);
/// How often a spinner or countdown moves.
const ANIMATION: Duration = Duration::from_millis(80);

pub struct TuiOptions {
    pub fullscreen: bool,
    pub initial_prompt: Option<String>,
    pub cwd: PathBuf,
    pub cairn_home: PathBuf,
    pub model: ModelInfo,
    /// Where this folder's sessions are (`None`: not saved, nothing to resume).
    pub store: Option<Store>,
    /// Open the session picker at start (`--resume` without an id).
    pub pick_session: bool,
    /// The user's status line command (`statusLine` in settings).
    pub status_line: Option<String>,
}

/// Puts the terminal back as it was. Runs on every way out, panics included.
fn restore(fullscreen: bool) {
    let mut out = io::stdout();
    let _ = execute!(out, PopKeyboardEnhancementFlags, DisableBracketedPaste, cursor::Show);
    if fullscreen {
        let _ = execute!(out, LeaveAlternateScreen);
    }
    let _ = disable_raw_mode();
    let _ = out.flush();
}

struct Restore {
    fullscreen: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        restore(self.fullscreen);
    }
}

/// Runs the TUI until the user quits; returns the exit code.
pub async fn run(agent: AgentHandle, options: TuiOptions) -> io::Result<i32> {
    let theme = Theme::from_env();
    highlight::warm_up();
    let fullscreen = options.fullscreen;
    enable_raw_mode()?;
    let _restore = Restore { fullscreen };
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore(fullscreen);
        previous_hook(info);
    }));
    let mut out = io::stdout();
    execute!(
        out,
        EnableBracketedPaste,
        PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
    )?;
    if fullscreen {
        execute!(out, EnterAlternateScreen)?;
    }
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let cursor_row = if fullscreen { 0 } else { cursor::position().map_or(size.1.saturating_sub(1), |(_, row)| row) };
    let mode = if fullscreen { Mode::Fullscreen } else { Mode::Inline };
    let mut screen = Screen::new(out, mode, size, cursor_row);
    let history = PromptHistory::new(&options.cairn_home, &options.cwd);
    let mut app = App::new(theme, &options.cwd, options.model.clone(), Some(history));
    app.store = options.store.clone();
    app.status_command = options.status_line.clone();
    app.on_resize(size.0);
    if options.pick_session {
        app.open_picker();
    }
    if let Some(prompt) = &options.initial_prompt {
        app.submit(prompt);
    }
    let code = event_loop(agent, &mut app, &mut screen).await;
    screen.finish()?;
    code
}

async fn event_loop(agent: AgentHandle, app: &mut App, screen: &mut Screen<Stdout>) -> io::Result<i32> {
    let AgentHandle { ops, mut events, task } = agent;
    let mut terminal = EventStream::new();
    let (mut sigterm, mut sighup, mut sigint) =
        (signal(SignalKind::terminate())?, signal(SignalKind::hangup())?, signal(SignalKind::interrupt())?);
    let mut pager: Option<(Pager, Screen<Stdout>)> = None;
    let (status_tx, mut status_rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    loop {
        for op in app.take_ops() {
            let _ = ops.send(op);
        }
        if let Some((command, input)) = app.take_status_request() {
            let tx = status_tx.clone();
            let cwd = app.cwd.clone();
            tokio::spawn(async move {
                let _ = tx.send(status_line::run(command, input, cwd).await);
            });
        }
        if app.quit {
            break;
        }
        if app.pager_requested {
            app.pager_requested = false;
            pager = Some(open_pager(app, screen)?);
            dirty = true;
        }
        if let Some(path) = app.edit_requested.take() {
            // The editor gets the terminal: no reader of ours may compete for its input.
            drop(terminal);
            let outcome = edit(&path);
            terminal = EventStream::new();
            let (cols, rows) = crossterm::terminal::size().unwrap_or(screen.size());
            screen.resize(cols, rows)?;
            app.on_resize(cols);
            match outcome {
                Ok(()) => app.notice(format!("Edited {}", path.display())),
                Err(problem) => app.push_cell(cells::Cell::Error { message: problem }),
            }
            dirty = true;
        }
        if dirty {
            let due = last_draw.map_or(Instant::now(), |at| at + FRAME);
            if Instant::now() >= due {
                draw(app, screen, pager.as_mut())?;
                last_draw = Some(Instant::now());
                dirty = false;
            }
        }
        let wake = match (dirty, app.animating() && pager.is_none()) {
            (true, _) => last_draw.map(|at| at + FRAME),
            (false, true) => last_draw.map(|at| at + ANIMATION),
            (false, false) => None,
        };
        // A draft the user may pause on wakes the loop when the pause is long enough.
        let wake = match (wake, app.draft_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            event = terminal.next() => {
                if !on_terminal(event, app, screen, &mut pager)? {
                    continue;
                }
            }
            event = events.recv() => match event {
                Some(event) => {
                    app.on_event(event);
                    // Take everything already waiting before drawing: one frame per burst.
                    while let Ok(event) = events.try_recv() {
                        app.on_event(event);
                    }
                }
                None => app.quit = true,
            },
            Some(line) = status_rx.recv() => app.status_line_done(line),
            () = sleep_until(wake) => {}
            _ = sigterm.recv() => app.quit = true,
            _ = sighup.recv() => app.quit = true,
            _ = sigint.recv() => app.quit = true,
        }
        app.tick();
        dirty = true;
    }
    if app.is_running() {
        let _ = ops.send(Op::Interrupt);
    }
    let _ = ops.send(Op::Shutdown);
    // Let the core stop its tools and answer the open calls, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    if pager.is_some() {
        execute!(io::stdout(), LeaveAlternateScreen)?;
    }
    // Whatever was still to be written goes into the scrollback before the prompt returns.
    let rest = app.take_commit();
    screen.commit(&rest)?;
    Ok(0)
}

/// The transcript pager (Ctrl-T) on the alternate screen.
fn open_pager(app: &App, screen: &Screen<Stdout>) -> io::Result<(Pager, Screen<Stdout>)> {
    let (cols, rows) = screen.size();
    execute!(io::stdout(), EnterAlternateScreen)?;
    let pager_screen = Screen::new(io::stdout(), Mode::Fullscreen, (cols, rows), 0);
    Ok((Pager::new(&app.cells, cols, app.theme, &app.cwd), pager_screen))
}

/// A key, paste or resize from the terminal, for the pager when it is open, else the app;
/// whether anything may have changed. The terminal gone means quitting.
fn on_terminal(
    event: Option<io::Result<TermEvent>>,
    app: &mut App,
    screen: &mut Screen<Stdout>,
    pager: &mut Option<(Pager, Screen<Stdout>)>,
) -> io::Result<bool> {
    match event {
        Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => match pager {
            Some((view, _)) => {
                if !view.on_key(key, screen.size().1) {
                    *pager = None;
                    execute!(io::stdout(), LeaveAlternateScreen)?;
                    screen.resize(screen.size().0, screen.size().1)?;
                }
            }
            None => app.on_key(key),
        },
        Some(Ok(TermEvent::Paste(text))) => {
            if pager.is_none() {
                app.on_paste(&text);
            }
        }
        Some(Ok(TermEvent::Resize(cols, rows))) => {
            screen.resize(cols, rows)?;
            app.on_resize(cols);
            if let Some((_, pager_screen)) = pager {
                pager_screen.resize(cols, rows)?;
            }
        }
        Some(Ok(_)) => return Ok(false),
        Some(Err(_)) | None => app.quit = true,
    }
    Ok(true)
}

/// Opens `path` in `$VISUAL`, else `$EDITOR`, else `vi`, with the terminal in its normal
/// mode, and waits for it.
fn edit(path: &std::path::Path) -> Result<(), String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi").to_owned();
    let mut out = io::stdout();
    let _ = execute!(out, cursor::Show);
    let _ = disable_raw_mode();
    let status = std::process::Command::new(&program).args(words).arg(path).status();
    let _ = enable_raw_mode();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{editor} exited with {status}")),
        Err(e) => Err(format!("Could not start the editor {program}: {e} (set $EDITOR)")),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn draw(app: &mut App, screen: &mut Screen<Stdout>, pager: Option<&mut (Pager, Screen<Stdout>)>) -> io::Result<()> {
    if let Some((view, pager_screen)) = pager {
        let (cols, rows) = pager_screen.size();
        return pager_screen.draw(&view.render(cols, rows, app.theme), None);
    }
    let lines = app.take_commit();
    screen.commit(&lines)?;
    let (cols, rows) = screen.size();
    let (buffer, cursor) = match screen.mode() {
        Mode::Inline => view::live(app, cols, screen.max_height()),
        Mode::Fullscreen => view::full(app, cols, rows),
    };
    screen.draw(&buffer, cursor)
}
