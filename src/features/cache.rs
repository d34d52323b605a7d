//! [`StoreFeatures`]: what the models read from the store, built once per run and shared
//! by training and evaluation.

use super::structure::{item_attributes, item_links, item_neighbourhood, item_structure};
use super::text::{item_texts, load_encoder, text_neighbours};
use super::FeatureConfig;
use crate::embed::CatalogueRepairs;
use crate::error::RecError;
use crate::eval::{EvalSplit, InteractionData, ItemId, Progress};
use crate::kg::KgStore;
use crate::model::links::LinkKind;
use crate::model::{ItemFeatures, ItemLinks, ModelInputs, ModelKind};

/// How many nearest items by text each item links to.
pub const TEXT_NEIGHBOURS: usize = 10;

/// The item inputs of the store's items, each computed once and shared by the models of a
/// run (text vectors and KG links are the same for every split; structure vectors are
/// trained once per seed), with notes on what they hold.
pub struct StoreFeatures<'a> {
    store: &'a KgStore,
    data: &'a InteractionData,
    config: &'a FeatureConfig,
    repairs: CatalogueRepairs,
    text: Option<Option<(usize, Vec<f32>)>>,
    structure: Option<(u64, (usize, Vec<f32>))>,
    /// The links and the cold items they were made without.
    links: Option<(Vec<ItemId>, ItemLinks)>,
    text_neighbours: Option<Vec<Vec<ItemId>>>,
    text_note: Option<String>,
    notes: Vec<String>,
}

impl<'a> StoreFeatures<'a> {
    /// An empty cache over `store` and `data`.
    pub fn new(store: &'a KgStore, data: &'a InteractionData, config: &'a FeatureConfig) -> Self {
        StoreFeatures {
            store,
            data,
            config,
            repairs: CatalogueRepairs::default(),
            text: None,
            structure: None,
            links: None,
            text_neighbours: None,
            text_note: None,
            notes: Vec::new(),
        }
    }

    /// Reads `repairs` over the store's catalogue facts (text and KG alike).
    pub fn with_repairs(mut self, repairs: CatalogueRepairs) -> Self {
        self.repairs = repairs;
        self
    }

    /// Drops the structure vectors trained so far: they were walked on one split's training
    /// interactions, and a model fit on another split must walk its own.
    pub fn forget_structure(&mut self) {
        self.structure = None;
    }

    /// Text vectors of the items, or `None` when no item has text.
    pub fn text(&mut self, progress: Progress<'_>) -> Result<Option<(usize, Vec<f32>)>, RecError> {
        if self.text.is_none() {
            let encoder = load_encoder(&self.config.text)?;
            let texts = item_texts(self.store, self.data, &self.repairs, &encoder, progress)?;
            let n = self.data.item_count();
            let codes = if texts.without_words > 0 {
                format!(
                    " ({} items' text is only ids or codes, no words, and counts as none)",
                    texts.without_words
                )
            } else {
                String::new()
            };
            self.text_note = if texts.with_text == 0 {
                Some(format!("no item has text (name, brand, category or price) in this store{codes}, so the text input and similar-text links are left out"))
            } else if texts.with_text < n {
                Some(format!(
                    "{} of {n} items have text{codes}; the others have a zero text vector",
                    texts.with_text
                ))
            } else {
                None
            };
            self.text = Some((texts.with_text > 0).then_some((texts.dim, texts.vectors)));
        }
        self.notes.extend(self.text_note.clone());
        Ok(self.text.clone().flatten())
    }

    /// Walk-based structure vectors of the items for `split`, trained once per seed.
    pub fn structure(
        &mut self,
        split: &EvalSplit,
        seed: u64,
        progress: Progress<'_>,
    ) -> Result<(usize, Vec<f32>), RecError> {
        match &self.structure {
            Some((s, v)) if *s == seed => Ok(v.clone()),
            _ => {
                let v = structure(
                    self.store,
                    self.data,
                    &self.repairs,
                    split,
                    self.config,
                    seed,
                    progress,
                )?;
                self.structure = Some((seed, v.clone()));
                Ok(v)
            }
        }
    }

    /// The KG's item-to-item links: the same for every split (they read no interaction)
    /// with the same cold items, whose links to other products are left out.
    pub fn links(&mut self, split: &EvalSplit) -> Result<ItemLinks, RecError> {
        match &self.links {
            Some((cold, links)) if *cold == split.cold_items => Ok(links.clone()),
            _ => {
                let links = item_links(
                    self.store,
                    self.data,
                    &self.repairs,
                    split,
                    &self.config.structure.projection,
                )?;
                self.notes.push(format!(
                    "{} KG links between items, of {} kinds",
                    links.len(),
                    links.kinds.len()
                ));
                self.links = Some((split.cold_items.clone(), links.clone()));
                Ok(links)
            }
        }
    }

    /// Each item's nearest items by text ([`TEXT_NEIGHBOURS`] of them), or `None` when no
    /// item has text.
    pub fn text_neighbours(
        &mut self,
        progress: Progress<'_>,
    ) -> Result<Option<Vec<Vec<ItemId>>>, RecError> {
        if self.text_neighbours.is_none() {
            let Some((dim, vectors)) = self.text(progress)? else {
                return Ok(None);
            };
            self.text_neighbours = Some(text_neighbours(dim, &vectors, TEXT_NEIGHBOURS)?);
        }
        Ok(self.text_neighbours.clone())
    }

    /// Notes about the inputs handed out since the last call, each once.
    pub fn take_notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        let mut seen = std::collections::HashSet::new();
        notes.retain(|n| seen.insert(n.clone()));
        notes
    }

    /// The item inputs `model` reads (see [`ModelKind::inputs`]), built on first use.
    pub fn for_model(
        &mut self,
        model: ModelKind,
        split: &EvalSplit,
        seed: u64,
        progress: Progress<'_>,
    ) -> Result<ItemFeatures, RecError> {
        let ModelInputs {
            walks,
            neighbourhood,
            text,
            links,
            attributes,
        } = model.inputs();
        let structure = if walks {
            Some(self.structure(split, seed, progress)?)
        } else if neighbourhood {
            let v = item_neighbourhood(
                self.store,
                self.data,
                &self.repairs,
                split,
                &self.config.structure.projection,
                self.config.neighbourhood_dim,
                seed,
            )?;
            Some((v.dim, v.data))
        } else {
            None
        };
        let text = if text { self.text(progress)? } else { None };
        if model == ModelKind::KgrecNoKg && text.is_none() {
            return Err(RecError::BadData(
                "kgrec-no-kg needs item text, and no item in this store has any".into(),
            ));
        }
        // Links: the KG's when the model reads the KG, and the nearest items by text when it
        // reads text.
        let mut table = None;
        if links && structure.is_some() {
            table = Some(self.links(split)?);
        }
        if links && text.is_some() {
            if let Some(neighbours) = self.text_neighbours(progress)? {
                table = Some(
                    table
                        .unwrap_or_default()
                        .with_kind(&LinkKind::SimilarText.name(), &neighbours),
                );
            }
        }
        let links = table.filter(|l| !l.is_empty());
        let attributes = if attributes {
            Some(item_attributes(
                self.store,
                self.data,
                &self.repairs,
                split,
                &self.config.structure.projection,
            )?)
        } else {
            None
        };
        Ok(ItemFeatures {
            structure,
            text,
            links,
            attributes,
        })
    }
}

/// Items' KG-structure vectors for this split: (dim, rows).
fn structure(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    config: &FeatureConfig,
    seed: u64,
    progress: Progress<'_>,
) -> Result<(usize, Vec<f32>), RecError> {
    let mut structure = config.structure.clone();
    structure.walks.seed = seed;
    structure.skipgram.seed = seed;
    let s = item_structure(store, data, repairs, split, &structure, progress)?;
    Ok((s.vectors.dim, s.vectors.data))
}
