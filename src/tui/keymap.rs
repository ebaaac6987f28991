//! The one keymap: every key the inspector knows, the action it stands for and the line the
//! help overlay shows for it. Key handling and the help screen both read this table, so they
//! cannot disagree.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the inspector.
    Quit,
    /// Show or hide the help overlay.
    Help,
    /// Select the previous capture, or scroll the detail up.
    Up,
    /// Select the next capture, or scroll the detail down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// The first capture, or the top of the detail.
    Top,
    /// The last capture, or the bottom of the detail.
    Bottom,
    /// Focus the next pane or tab.
    NextPane,
    /// Focus the previous pane or tab.
    PrevPane,
    /// Show a detail tab directly.
    Tab(usize),
    /// Edit the filter.
    Filter,
    /// Keep the newest capture selected as captures arrive.
    Follow,
    /// Freeze the view; captures keep arriving behind it.
    Pause,
    /// Hide every capture shown so far.
    Clear,
    /// Copy the selected capture as a curl command (OSC 52).
    CopyCurl,
    /// Save the selected body to a file.
    SaveBody,
    /// Replay the selected capture byte for byte.
    Replay,
    /// Re-sign the selected capture with a fresh timestamp and replay it.
    Resign,
    /// Edit the body in $EDITOR, re-sign and replay it.
    Edit,
}

/// One line of the keymap.
#[derive(Debug)]
pub struct Binding {
    /// The keys (code and modifiers) that trigger it.
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the help overlay names the keys.
    pub shown: &'static str,
    /// What it does.
    pub action: Action,
    /// The help overlay's line.
    pub help: &'static str,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

/// Every key, in the order the help overlay lists them.
#[rustfmt::skip]
pub const KEYMAP: &[Binding] = &[
    Binding { keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)], shown: "↑ k", action: Action::Up, help: "previous capture / scroll up" },
    Binding { keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)], shown: "↓ j", action: Action::Down, help: "next capture / scroll down" },
    Binding { keys: &[(KeyCode::PageUp, NONE)], shown: "PgUp", action: Action::PageUp, help: "a page up" },
    Binding { keys: &[(KeyCode::PageDown, NONE)], shown: "PgDn", action: Action::PageDown, help: "a page down" },
    Binding { keys: &[(KeyCode::Char('g'), NONE), (KeyCode::Home, NONE)], shown: "g Home", action: Action::Top, help: "first capture / top" },
    Binding { keys: &[(KeyCode::Char('G'), SHIFT), (KeyCode::Char('G'), NONE), (KeyCode::End, NONE)], shown: "G End", action: Action::Bottom, help: "last capture / bottom" },
    Binding { keys: &[(KeyCode::Tab, NONE)], shown: "Tab", action: Action::NextPane, help: "next pane or tab" },
    Binding { keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)], shown: "S-Tab", action: Action::PrevPane, help: "previous pane or tab" },
    Binding { keys: &[(KeyCode::Char('1'), NONE)], shown: "1", action: Action::Tab(0), help: "Body tab" },
    Binding { keys: &[(KeyCode::Char('2'), NONE)], shown: "2", action: Action::Tab(1), help: "Headers tab" },
    Binding { keys: &[(KeyCode::Char('3'), NONE)], shown: "3", action: Action::Tab(2), help: "Signature tab" },
    Binding { keys: &[(KeyCode::Char('4'), NONE)], shown: "4", action: Action::Tab(3), help: "Deliveries tab" },
    Binding { keys: &[(KeyCode::Char('/'), NONE)], shown: "/", action: Action::Filter, help: "filter (Enter keeps, Esc clears)" },
    Binding { keys: &[(KeyCode::Char('f'), NONE)], shown: "f", action: Action::Follow, help: "follow new captures" },
    Binding { keys: &[(KeyCode::Char('p'), NONE)], shown: "p", action: Action::Pause, help: "pause the view (capture goes on)" },
    Binding { keys: &[(KeyCode::Char('c'), NONE)], shown: "c", action: Action::Clear, help: "clear the view (the journal keeps all)" },
    Binding { keys: &[(KeyCode::Char('r'), NONE)], shown: "r", action: Action::Replay, help: "replay to the app, byte for byte" },
    Binding { keys: &[(KeyCode::Char('R'), SHIFT), (KeyCode::Char('R'), NONE)], shown: "R", action: Action::Resign, help: "re-sign with a fresh timestamp, replay" },
    Binding { keys: &[(KeyCode::Char('e'), NONE)], shown: "e", action: Action::Edit, help: "edit the body in $EDITOR, re-sign, replay" },
    Binding { keys: &[(KeyCode::Char('y'), NONE)], shown: "y", action: Action::CopyCurl, help: "copy as curl (to the clipboard, OSC 52)" },
    Binding { keys: &[(KeyCode::Char('s'), NONE)], shown: "s", action: Action::SaveBody, help: "save the body to a file" },
    Binding { keys: &[(KeyCode::Char('?'), NONE), (KeyCode::Char('?'), SHIFT)], shown: "?", action: Action::Help, help: "this help" },
    Binding { keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), CTRL)], shown: "q ^C", action: Action::Quit, help: "quit" },
];

/// The action bound to `key`, if any.
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    KEYMAP
        .iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|&(code, mods)| code == key.code && mods == key.modifiers)
        })
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = std::collections::HashSet::new();
        for binding in KEYMAP {
            for key in binding.keys {
                assert!(seen.insert(*key), "{key:?} is bound twice");
            }
        }
    }

    #[test]
    fn keys_map_to_their_actions() {
        let key = |code, mods| KeyEvent::new(code, mods);
        assert_eq!(action_for(&key(KeyCode::Char('j'), NONE)), Some(Action::Down));
        assert_eq!(action_for(&key(KeyCode::Char('G'), SHIFT)), Some(Action::Bottom));
        assert_eq!(action_for(&key(KeyCode::Char('c'), CTRL)), Some(Action::Quit));
        assert_eq!(action_for(&key(KeyCode::Char('c'), NONE)), Some(Action::Clear));
        assert_eq!(action_for(&key(KeyCode::Char('Z'), SHIFT)), None);
    }
}
