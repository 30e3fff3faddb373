//! The arms of an ablation: the KV policies one token stream is teacher-forced through.

use crate::kv::KvPolicy;

/// One arm: a name as written in tables and files, and the policy it decodes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub name: String,
    pub policy: KvPolicy,
}

impl Arm {
    pub fn full() -> Arm {
        Arm {
            name: "full".into(),
            policy: KvPolicy::FULL,
        }
    }

    /// `full`, `memento`, `restart`, or `keepN` (also `keep-N`) with N ≥ 1.
    pub fn parse(text: &str) -> Result<Arm, String> {
        let t = text.trim().to_ascii_lowercase();
        let unknown = || {
            format!(
                "unknown arm `{text}`: expected full, memento, restart or keepN (N ≥ 1, e.g. keep1)"
            )
        };
        let policy = KvPolicy::parse(&t).map_err(|_| unknown())?;
        let name = match t.as_str() {
            "full" | "memento" | "restart" => t.clone(),
            _ if policy.keep_last_n_blocks > 0 => format!("keep{}", policy.keep_last_n_blocks),
            // keep0 is memento mode; -1 and other spellings are not arm names.
            _ => return Err(unknown()),
        };
        Ok(Arm { name, policy })
    }

    /// A comma-separated list. The full-context arm, which every other arm is measured
    /// against, comes first, added when the list leaves it out.
    pub fn parse_list(text: &str) -> Result<Vec<Arm>, String> {
        let mut arms = vec![Arm::full()];
        let mut named = Vec::new();
        for part in text.split(',') {
            if part.trim().is_empty() {
                return Err(format!("empty arm name in `{text}`"));
            }
            let arm = Arm::parse(part)?;
            if named.contains(&arm.name) {
                return Err(format!("arm `{}` is given twice", arm.name));
            }
            named.push(arm.name.clone());
            if arm.name != "full" {
                arms.push(arm);
            }
        }
        Ok(arms)
    }

    pub fn is_full(&self) -> bool {
        self.name == "full"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_arm_names() {
        let arms = Arm::parse_list("full,memento,restart,keep1").unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["full", "memento", "restart", "keep1"]);
        assert_eq!(arms[3].policy.keep_last_n_blocks, 1);
        assert!(arms[2].policy.restart);
        assert_eq!(Arm::parse("keep-2").unwrap().name, "keep2");
    }

    #[test]
    fn the_full_arm_is_always_the_first() {
        let arms = Arm::parse_list("memento, restart").unwrap();
        assert_eq!(arms[0], Arm::full());
        assert_eq!(arms.len(), 3);
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        assert!(
            Arm::parse_list("full,sometimes")
                .unwrap_err()
                .contains("unknown arm `sometimes`")
        );
        assert!(
            Arm::parse_list("keep0")
                .unwrap_err()
                .contains("unknown arm")
        );
        assert!(
            Arm::parse_list("memento,memento")
                .unwrap_err()
                .contains("given twice")
        );
        assert!(
            Arm::parse_list("memento,,full")
                .unwrap_err()
                .contains("empty")
        );
    }
}
