//! Checkpoints: one safetensors file with the trained parameters by name
//! (`param.{name}`, e.g. `param.blocks.0.query.weight`, `param.inputs.text.projection.weight`),
//! the item inputs (`input.structure`, `input.text`, `input.links.*`) and the fused
//! `item_vectors`, readable from numpy and PyTorch.
//!
//! Files written before parameters were named hold `param.000`, `param.001`, … in the order
//! the network creates its parameters. That order is fixed by the configuration (see
//! [`build_network`]: the ID embedding; each input's projection weight and bias and norm
//! alpha and beta, structure before text; the gate; the positions; each block's attention
//! norm, query, key, value, output, feed-forward norm, feed-forward in and out; the final
//! norm; the link weights), so such a file is read through that mapping: `param.{k:03}` is
//! the k-th name in creation order. (Such files predate relative positions and wider
//! feed-forward layers, so their configurations read as window positions and width 1.)

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::network::build_network;
use super::network::Params;
use super::{SequentialConfig, SequentialModel};
use crate::eval::LearnError;
use crate::model::inputs::ItemFeatures;
use crate::model::links::ItemLinks;

impl SequentialModel {
    /// Writes the trained parameters by name, the item inputs and the fused item vectors as
    /// one safetensors file (see the module documentation).
    pub fn save(&self, features: &ItemFeatures, path: &Path) -> Result<(), LearnError> {
        let failed = |e: candle_core::Error| checkpoint_error(path, e.to_string());
        let mut tensors = HashMap::new();
        for name in &self.params.order {
            let var = self.params.get(name).map_err(failed)?;
            tensors.insert(format!("param.{name}"), var.as_tensor().clone());
        }
        let n = self.item_count();
        for (name, feature) in [("structure", &features.structure), ("text", &features.text)] {
            if let Some((dim, values)) = feature {
                let t = Tensor::from_slice(values, (n, *dim), &Device::Cpu).map_err(failed)?;
                tensors.insert(format!("input.{name}"), t);
            }
        }
        if let Some((links, _)) = &self.network.links {
            let [offsets, targets, kinds] = links.to_parts();
            for (name, part) in [("offsets", offsets), ("targets", targets), ("kinds", kinds)] {
                let t = Tensor::from_slice(part, part.len(), &Device::Cpu).map_err(failed)?;
                tensors.insert(format!("input.links.{name}"), t);
            }
            let names = links.kinds.join("\n").into_bytes();
            let t = Tensor::from_vec(names.clone(), names.len(), &Device::Cpu).map_err(failed)?;
            tensors.insert("input.links.kind_names".into(), t);
        }
        tensors.insert("item_vectors".into(), self.items.clone());
        candle_core::safetensors::save(&tensors, path).map_err(failed)
    }

    /// Loads a model written by [`SequentialModel::save`] with the `config` it was trained
    /// with; returns it and its item inputs.
    pub fn load(
        path: &Path,
        config: &SequentialConfig,
    ) -> Result<(Self, ItemFeatures), LearnError> {
        let bad = |m: String| checkpoint_error(path, m);
        let failed = |e: candle_core::Error| checkpoint_error(path, e.to_string());
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(failed)?;
        let items = tensors
            .get("item_vectors")
            .ok_or_else(|| bad("no item_vectors tensor".into()))?;
        let n_items = items.dims().first().copied().unwrap_or(0);
        let feature = |name: &str| -> Result<Option<(usize, Vec<f32>)>, LearnError> {
            match tensors.get(&format!("input.{name}")) {
                None => Ok(None),
                Some(t) => match t.dims() {
                    [rows, dim] if *rows == n_items => Ok(Some((
                        *dim,
                        t.flatten_all().and_then(|t| t.to_vec1()).map_err(failed)?,
                    ))),
                    _ => Err(bad(format!("input.{name} does not have one row per item"))),
                },
            }
        };
        let links = saved_links(&tensors, n_items).map_err(bad)?;
        let features = ItemFeatures {
            structure: feature("structure")?,
            text: feature("text")?,
            links,
            attributes: None,
        };
        let c = SequentialConfig {
            use_structure: features.structure.is_some(),
            use_text: features.text.is_some(),
            use_links: features.links.is_some(),
            ..config.clone()
        };
        let mut params = Params::new(c.seed, Device::Cpu);
        let mut network = build_network(&mut params, &features, &c, n_items).map_err(failed)?;
        // Named parameters, or the creation-order mapping of files written before names.
        let legacy = tensors.contains_key("param.000");
        // Files written before the new-product terms have none: such a model scores
        // products without an ID part by their KG and text parts alone, as it did.
        let mut expected = params.order.len();
        for (k, name) in params.order.iter().enumerate() {
            let key = if legacy {
                format!("param.{k:03}")
            } else {
                format!("param.{name}")
            };
            if name == "new_items.weights" && !tensors.contains_key(&key) {
                network.new_items = None;
                expected -= 1;
                continue;
            }
            // Files written before new products could borrow their neighbours' scores keep
            // their own (the basis stays 0); so do those without the terms at all.
            // Files written before the bar term give every user the same offset (0).
            if (name == "new_items.basis" || name == "new_items.placement")
                && !tensors.contains_key(&key)
            {
                expected -= 1;
                continue;
            }
            let saved = tensors.get(&key).ok_or_else(|| {
                bad(format!(
                    "parameter {name} ({key}) is missing; was it saved with another configuration?"
                ))
            })?;
            let var = params.get(name).map_err(failed)?;
            if saved.dims() != var.dims() {
                return Err(bad(format!(
                    "parameter {name} has shape {:?}, the configuration needs {:?}",
                    saved.dims(),
                    var.dims()
                )));
            }
            var.set(saved).map_err(failed)?;
        }
        if tensors.keys().filter(|k| k.starts_with("param.")).count() != expected {
            return Err(bad("more parameters than the configuration has".into()));
        }
        let id_less = network.id_less_items().map_err(failed)?;
        if let Some(head) = network.new_items.as_mut() {
            head.set_items(id_less).map_err(failed)?;
            head.read_terms().map_err(failed)?;
        }
        let items = network.item_matrix().map_err(failed)?.detach();
        let link_values = network
            .link_weights()
            .map_err(failed)?
            .map_or_else(Vec::new, |(_, w)| w);
        Ok((
            SequentialModel {
                network,
                params,
                items,
                config: c,
                losses: Vec::new(),
                validation: Vec::new(),
                best_epoch: 0,
                lr_drops: Vec::new(),
                lr_drop_restores: Vec::new(),
                kept_average: false,
                link_values,
                new_item_fit: None,
            },
            features,
        ))
    }
}

/// The link table saved with a model (`input.links.*`), if it has one; an error message when
/// the parts are missing or do not form a table of `n_items` items.
fn saved_links(
    tensors: &HashMap<String, Tensor>,
    n_items: usize,
) -> Result<Option<ItemLinks>, String> {
    if !tensors.contains_key("input.links.offsets") {
        return Ok(None);
    }
    let part = |name: &str| -> Result<Vec<u32>, String> {
        tensors
            .get(&format!("input.links.{name}"))
            .ok_or_else(|| format!("input.links.{name} is missing"))?
            .to_vec1()
            .map_err(|e| e.to_string())
    };
    let names: Vec<u8> = tensors
        .get("input.links.kind_names")
        .ok_or("input.links.kind_names is missing")?
        .to_vec1()
        .map_err(|e| e.to_string())?;
    let names = String::from_utf8(names).map_err(|_| "input.links.kind_names is not UTF-8")?;
    let kinds = names.split('\n').map(str::to_owned).collect();
    ItemLinks::from_parts(kinds, part("offsets")?, part("targets")?, part("kinds")?)
        .filter(|l| l.item_count() == n_items)
        .map(Some)
        .ok_or_else(|| "input.links.* do not form a link table of the items".into())
}

/// A checkpoint error naming the file.
fn checkpoint_error(path: &Path, message: String) -> LearnError {
    LearnError::Checkpoint {
        path: path.to_owned(),
        message,
    }
}
