//! What the ablation view shows, computed once from a loaded result directory with the
//! report's own functions: per arm, per span, per block index and per layer of the channel,
//! for all items and for each item alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::figures::{ArmFigures, per_arm};
use super::metrics::{Aggregate, PositionRow};
use super::results::{AnswerRow, ItemResult, ProbeRow, Results, Settings};
use super::tables::{self, Distances};

/// The items a figure covers: all of them, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Item(usize),
}

/// Mean KL per block index and arm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockTable {
    /// Block indices (0-based), ascending.
    pub blocks: Vec<u32>,
    /// `[block][arm]`, arms in the settings' order.
    pub means: Vec<Vec<Aggregate>>,
}

/// The channel's mean K and V distance per block index and layer, and per layer over every
/// memento (the report's table).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelGrid {
    pub blocks: Vec<u32>,
    pub layers: Vec<u32>,
    pub cells: BTreeMap<(u32, u32), Distances>,
    pub per_layer: BTreeMap<u32, Distances>,
    pub mementos: usize,
}

impl ChannelGrid {
    fn of<'a>(rows: impl IntoIterator<Item = &'a super::channel::ChannelRow> + Clone) -> Self {
        let cells = tables::mean_distances(rows.clone(), |c| (c.block, c.layer));
        let per_layer = tables::mean_distances(rows.clone(), |c| c.layer);
        let blocks: BTreeSet<u32> = cells.keys().map(|k| k.0).collect();
        ChannelGrid {
            blocks: blocks.into_iter().collect(),
            layers: per_layer.keys().copied().collect(),
            cells,
            per_layer,
            mementos: tables::mementos(rows),
        }
    }

    /// The largest K and V distance shown (cells and per-layer means).
    pub fn max(&self) -> (f64, f64) {
        self.cells
            .values()
            .chain(self.per_layer.values())
            .fold((0.0, 0.0), |(k, v), d| (f64::max(k, d.k), f64::max(v, d.v)))
    }
}

/// One item: its summary line, its answers and its per-position KL, per arm.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub result: ItemResult,
    /// Per arm (settings' order), the answers by seed.
    pub answers: Vec<Vec<AnswerRow>>,
    /// Per arm, the KL at each generated position, by index.
    pub kl: Vec<Vec<f64>>,
    /// Per arm, its figures as the item's summary line records them (`None` when absent).
    pub arms: Vec<Option<super::results::ArmSummary>>,
    pub trace: PathBuf,
}

/// The probe's results for one arm, memento and role, per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSeries {
    pub arm: String,
    pub memento: u32,
    pub role: String,
    /// Sorted by layer.
    pub layers: Vec<ProbeRow>,
}

impl ProbeSeries {
    /// The layer chosen on the validation split (the earlier on a tie), as the report's
    /// headline: choosing by test accuracy would flatter the probe.
    pub fn best(&self) -> Option<&ProbeRow> {
        self.layers.iter().reduce(|best, r| {
            if r.validation_accuracy > best.validation_accuracy {
                r
            } else {
                best
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub dir: PathBuf,
    pub settings: Settings,
    pub tokens: u64,
    pub blocks: u64,
    pub mementos: u64,
    pub arms: Vec<ArmFigures>,
    /// Per arm, [`super::metrics::SpanKind::ALL`] in order.
    pub spans: Vec<[Aggregate; 4]>,
    pub items: Vec<ItemView>,
    block_tables: Vec<BlockTable>,
    channel_grids: Vec<ChannelGrid>,
    /// `None` without `probe.csv`.
    pub probe: Option<Vec<ProbeSeries>>,
}

impl Summary {
    pub fn of(results: &Results) -> Summary {
        let arms = &results.settings.arms;
        let mut by_item: BTreeMap<&str, Vec<&PositionRow>> = BTreeMap::new();
        for r in &results.positions {
            by_item.entry(r.item.as_str()).or_default().push(r);
        }
        let block_table = |rows: &[&PositionRow]| {
            let table = tables::by_block(arms, rows.iter().copied());
            BlockTable {
                blocks: table.keys().copied().collect(),
                means: table.into_values().collect(),
            }
        };
        let all: Vec<&PositionRow> = results.positions.iter().collect();
        let mut block_tables = vec![block_table(&all)];
        let mut channel_grids = vec![ChannelGrid::of(&results.channel)];
        let mut items = Vec::new();
        for item in &results.items {
            let rows = by_item.get(item.item.as_str()).cloned().unwrap_or_default();
            block_tables.push(block_table(&rows));
            channel_grids.push(ChannelGrid::of(
                results.channel.iter().filter(|c| c.item == item.item),
            ));
            let kl = arms
                .iter()
                .map(|arm| {
                    let mut mine: Vec<&&PositionRow> =
                        rows.iter().filter(|r| &r.arm == arm).collect();
                    mine.sort_by_key(|r| r.index);
                    mine.iter().map(|r| r.kl).collect()
                })
                .collect();
            let answers = arms
                .iter()
                .map(|arm| {
                    let mut mine: Vec<AnswerRow> = results
                        .answers
                        .iter()
                        .filter(|a| a.item == item.item && &a.arm == arm)
                        .cloned()
                        .collect();
                    mine.sort_by_key(|a| a.seed);
                    mine
                })
                .collect();
            items.push(ItemView {
                result: item.clone(),
                answers,
                kl,
                arms: arms
                    .iter()
                    .map(|arm| item.arms.iter().find(|a| &a.arm == arm).cloned())
                    .collect(),
                trace: results.trace_path(&item.item),
            });
        }
        let probe = results.probe.as_ref().map(|rows| {
            let mut series: BTreeMap<(usize, String, String), Vec<ProbeRow>> = BTreeMap::new();
            for r in rows {
                // Arms in the settings' order, unknown ones after.
                let rank = arms.iter().position(|a| a == &r.arm).unwrap_or(arms.len());
                series
                    .entry((rank, r.arm.clone(), r.role.clone()))
                    .or_default()
                    .push(r.clone());
            }
            let mut out = Vec::new();
            for ((_, arm, role), rows) in series {
                let mut by_memento: BTreeMap<u32, Vec<ProbeRow>> = BTreeMap::new();
                for r in rows {
                    by_memento.entry(r.memento).or_default().push(r);
                }
                for (memento, mut layers) in by_memento {
                    layers.sort_by_key(|r| r.layer);
                    out.push(ProbeSeries {
                        arm: arm.clone(),
                        memento,
                        role: role.clone(),
                        layers,
                    });
                }
            }
            out
        });
        Summary {
            dir: results.dir.clone(),
            settings: results.settings.clone(),
            tokens: results.items.iter().map(|i| i.tokens).sum(),
            blocks: results.items.iter().map(|i| i.blocks).sum(),
            mementos: results.items.iter().map(|i| i.mementos).sum(),
            arms: per_arm(arms, &results.positions, &results.answers),
            spans: tables::by_span(arms, &results.positions),
            items,
            block_tables,
            channel_grids,
            probe,
        }
    }

    pub fn arm_names(&self) -> &[String] {
        &self.settings.arms
    }

    fn scope_index(&self, scope: Scope) -> usize {
        match scope {
            Scope::All => 0,
            Scope::Item(i) => (i + 1).min(self.items.len()),
        }
    }

    pub fn blocks(&self, scope: Scope) -> &BlockTable {
        &self.block_tables[self.scope_index(scope)]
    }

    pub fn channel(&self, scope: Scope) -> &ChannelGrid {
        &self.channel_grids[self.scope_index(scope)]
    }

    /// What a scope is called on screen.
    pub fn scope_name(&self, scope: Scope) -> String {
        match scope {
            Scope::All => format!("all {} items", self.items.len()),
            Scope::Item(i) => self
                .items
                .get(i)
                .map_or_else(|| "?".into(), |v| v.result.item.clone()),
        }
    }
}
