//! The one palette every view colours series with: the TUI's KV chart and ablation arms, the
//! exported KV chart, and the ablation plots. A series keeps its hue everywhere: full context
//! blue, memento mode green, any other policy (restart, keep-N, a trace's own) orange; further
//! ablation arms take the rest in their order. The built-in themes set their `series_*`
//! colours to these, so a theme file is the only way one arm can look different in the
//! terminal than in a chart.

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Full context.
pub const FULL: Rgb = Rgb(31, 119, 180);
/// Memento mode.
pub const MEMENTO: Rgb = Rgb(44, 160, 44);
/// Any other policy: restart, keep-N, a trace's own.
pub const POLICY: Rgb = Rgb(255, 127, 14);
/// Readings recorded in a trace, where they differ from every simulated series.
pub const RECORDED: Rgb = Rgb(148, 103, 189);
/// An eviction's mark.
pub const EVICTION: Rgb = Rgb(214, 39, 40);
/// Further series, in order.
pub const OTHERS: [Rgb; 5] = [
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
    Rgb(127, 127, 127),
];

/// Which of the named series `label` is: a policy's label (`full`, `memento`, `restart`,
/// `keep-2` …) or an ablation arm's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Full,
    Memento,
    Policy,
    /// An arm with no policy's name, by its place among such arms.
    Other(usize),
}

impl Series {
    /// `label`'s series; `index` is its place in the run's list, used only for arms with no
    /// policy's name.
    pub fn of(label: &str, index: usize) -> Series {
        match label {
            "full" => Series::Full,
            l if l.starts_with("memento") => Series::Memento,
            "restart" => Series::Policy,
            l if l.starts_with("keep-") => Series::Policy,
            _ => Series::Other(index),
        }
    }

    pub fn rgb(self) -> Rgb {
        match self {
            Series::Full => FULL,
            Series::Memento => MEMENTO,
            Series::Policy => POLICY,
            Series::Other(i) => OTHERS[i % OTHERS.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_keeps_its_colour_whatever_its_place() {
        for index in 0..4 {
            assert_eq!(Series::of("full", index).rgb(), FULL);
            assert_eq!(Series::of("memento", index).rgb(), MEMENTO);
            assert_eq!(Series::of("restart", index).rgb(), POLICY);
            assert_eq!(Series::of("keep-2", index).rgb(), POLICY);
        }
        assert_eq!(Series::of("recompute", 3).rgb(), OTHERS[3]);
        assert_eq!(FULL.hex(), "#1f77b4");
    }

    /// The built-in themes draw the series in the palette's colours.
    #[test]
    fn the_built_in_themes_use_the_palette() {
        for name in ["dark", "light"] {
            let toml = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("themes")
                    .join(format!("{name}.toml")),
            )
            .unwrap();
            for (key, rgb) in [
                ("series_full", FULL),
                ("series_memento", MEMENTO),
                ("series_policy", POLICY),
            ] {
                let line = format!("{key} = \"{}\"", rgb.hex());
                assert!(toml.contains(&line), "{name}.toml lacks {line}");
            }
        }
    }
}
