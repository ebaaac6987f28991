//! A program on a pseudo-terminal, its screen read through a terminal emulator (vt100) as a
//! person would see it, and every byte it wrote kept too.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// Whether `output` ends where a frame ratatui drew ends: with the cursor hidden (crossterm's
/// `Hide`, after every frame without a cursor), or shown and put in place (`Show`, then
/// `MoveTo`, after a frame with one).
fn at_frame_end(output: &[u8]) -> bool {
    const HIDE: &[u8] = b"\x1b[?25l";
    const SHOW: &[u8] = b"\x1b[?25h\x1b[";
    if output.ends_with(HIDE) {
        return true;
    }
    let Some(at) = output.windows(SHOW.len()).rposition(|w| w == SHOW) else {
        return false;
    };
    match &output[at + SHOW.len()..] {
        [position @ .., b'H'] => position.iter().all(|b| b.is_ascii_digit() || *b == b';'),
        _ => false,
    }
}

/// A program running on a pty, with the screen it draws.
pub struct Terminal {
    /// The program.
    pub child: Box<dyn Child + Send + Sync>,
    screen: Arc<Mutex<vt100::Parser>>,
    output: Arc<Mutex<Vec<u8>>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    _master: Box<dyn MasterPty + Send>,
}

impl Terminal {
    /// `hookscope ARGS` on a `cols`x`rows` pty, in `dir`.
    pub fn start(args: &[&str], dir: &Path, cols: u16, rows: u16) -> Self {
        Self::start_with(args, dir, cols, rows, &[])
    }

    /// `hookscope ARGS` on a `cols`x`rows` pty, in `dir`, with `env` on top.
    pub fn start_with(args: &[&str], dir: &Path, cols: u16, rows: u16, env: &[(&str, &str)]) -> Self {
        Self::program(env!("CARGO_BIN_EXE_hookscope"), args, dir, (cols, rows), env)
    }

    /// `program ARGS` on a pty of `(cols, rows)`, in `dir`, its log files under `dir` too
    /// (`XDG_STATE_HOME`), with `env` on top.
    pub fn program(
        program: &str,
        args: &[&str],
        dir: &Path,
        (cols, rows): (u16, u16),
        env: &[(&str, &str)],
    ) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pty");
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.cwd(dir);
        command.env("TERM", "xterm-256color");
        command.env("XDG_STATE_HOME", dir); // the inspector's log file goes here
        for (name, value) in env {
            command.env(name, value);
        }
        let child = pair.slave.spawn_command(command).expect("spawn on the pty");
        drop(pair.slave);
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("a non-zero size");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(size(rows), size(cols), 0)));
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("pty writer")));
        let (parser, raw, answer) = (screen.clone(), output.clone(), writer.clone());
        thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                // The screen's lock first and held over both, so that a reader sees the screen
                // and the output at the same point (see `wait_for`).
                let mut screen = parser.lock().expect("screen lock");
                raw.lock().expect("output lock").extend_from_slice(&buffer[..n]);
                screen.process(&buffer[..n]);
                // Answer a cursor position query as a real terminal does (crossterm asks).
                if buffer[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = screen.screen().cursor_position();
                    let reply = format!("\x1b[{};{}R", row + 1, col + 1);
                    let _ = answer.lock().expect("writer lock").write_all(reply.as_bytes());
                }
            }
        });
        Self {
            child,
            screen,
            output,
            writer,
            _master: pair.master,
        }
    }

    /// Reads the screen itself (cells, rows, wrapping) with `read`, between two frames (see
    /// [`Terminal::wait_for`]).
    pub fn with_screen<T>(&self, read: impl FnOnce(&vt100::Screen) -> T) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let parser = self.screen.lock().expect("screen lock");
            if at_frame_end(&self.output.lock().expect("output lock")) || !parser.screen().alternate_screen()
            {
                return read(parser.screen());
            }
            drop(parser);
            assert!(
                Instant::now() < deadline,
                "the output never ended with a whole frame; the screen:\n{}",
                self.contents()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The screen's text now.
    pub fn contents(&self) -> String {
        self.screen.lock().expect("screen lock").screen().contents()
    }

    /// Every byte the program wrote so far, as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned()
    }

    /// Waits until the screen satisfies `ready` with no frame half drawn, and returns it.
    ///
    /// The inspector writes a frame through a line-buffered stdout, 1 KiB at a time: a loaded
    /// machine can stop it between two writes, and a screen read then shows the new status bar
    /// over the old list. A frame ends with the cursor hidden or put in place (ratatui does one
    /// or the other after every draw), so the screen is only looked at when the output so far
    /// ends there, or when the program is not on the alternate screen (it is not drawing
    /// frames).
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = {
                let parser = self.screen.lock().expect("screen lock");
                let output = self.output.lock().expect("output lock");
                let drawn = at_frame_end(&output) || !parser.screen().alternate_screen();
                drawn.then(|| parser.screen().contents())
            };
            if let Some(screen) = screen.filter(|screen| ready(screen)) {
                return screen;
            }
            let screen = self.contents();
            let between_frames = match ready(&screen) {
                true => " (it shows it, but the output does not end with a whole frame)",
                false => "",
            };
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}{between_frames}; the screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Types `keys`.
    pub fn type_keys(&mut self, keys: &str) {
        let mut writer = self.writer.lock().expect("writer lock");
        writer.write_all(keys.as_bytes()).expect("type");
        writer.flush().expect("flush");
    }

    /// Types `q` and waits for the program to exit.
    pub fn quit(mut self) {
        self.type_keys("q");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "it did not quit on q");
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Terminal {
    /// A test that fails leaves nothing running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
