//! `hookscope completions SHELL` and `hookscope man`: generated from the command line's own
//! definition, so they never fall behind it.

use std::io::Write;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "hookscope", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("cannot write to stdout")
}

/// Writes the manual page, in roff, to stdout: the main page, then a section per command.
pub fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .context("cannot render the manual page")?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        // Each command's page follows as a section of the one page.
        let mut page = Vec::new();
        let man = clap_mangen::Man::new(sub.clone());
        man.render_description_section(&mut page)
            .and_then(|()| man.render_options_section(&mut page))
            .context("cannot render the manual page")?;
        writeln!(out, ".SH \"HOOKSCOPE {}\"", sub.get_name().to_uppercase())?;
        out.extend(page);
    }
    std::io::stdout()
        .write_all(&out)
        .context("cannot write to stdout")
}
