//! Scoring: the user vector is the encoder's last hidden state over the history; an item
//! scores `user · item` plus, when the model reads links, the learned link weights, and,
//! for a product without an ID part, the new-product terms ([`super::new_items`]).

use candle_core::{DType, Tensor};

use super::network::{Dropout, Network, Readout};
use super::SequentialModel;
use crate::eval::{ItemId, LearnError, Scorer, UserId};

impl SequentialModel {
    /// The model's parameters as a scorer.
    pub(super) fn view(&self) -> ScoringView<'_> {
        ScoringView {
            network: &self.network,
            items: &self.items,
            max_len: self.config.max_len,
        }
    }
}

/// A network and its fused item matrix, scoring without dropout: the trained model, or the
/// model in training when it is validated.
pub(super) struct ScoringView<'a> {
    pub(super) network: &'a Network,
    pub(super) items: &'a Tensor,
    pub(super) max_len: usize,
}

impl ScoringView<'_> {
    /// The last hidden state of each history: the user vector (histories × dim).
    pub(super) fn encode_histories(&self, histories: &[&[ItemId]]) -> candle_core::Result<Tensor> {
        let len = histories
            .iter()
            .map(|h| h.len().min(self.max_len))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![u32::MAX; histories.len() * len];
        for (r, h) in histories.iter().enumerate() {
            let h = &h[h.len().saturating_sub(len)..];
            for (t, &i) in h.iter().enumerate() {
                ids[r * len + len - h.len() + t] = i;
            }
        }
        let none = Dropout::NONE;
        self.network
            .encode(self.items, &ids, histories.len(), len, &none, Readout::Last)?
            .squeeze(1)
    }

    /// Scores the whole catalogue for several histories at once.
    pub(super) fn score_histories(
        &self,
        histories: &[&[ItemId]],
        out: &mut [f32],
    ) -> candle_core::Result<()> {
        let n_items = self.items.dims()[0];
        let h = self.encode_histories(histories)?;
        let scores = h.matmul(&self.items.t()?)?.to_dtype(DType::F32)?;
        let flat: Vec<f32> = scores.flatten_all()?.to_vec1()?;
        out[..histories.len() * n_items].copy_from_slice(&flat);
        if let Some((links, weights)) = self.network.link_weights()? {
            for (history, row) in histories.iter().zip(out.chunks_mut(n_items)) {
                links.add_scores(history, &weights, row);
            }
        }
        if let Some(head) = &self.network.new_items {
            for (history, row) in histories.iter().zip(out.chunks_mut(n_items)) {
                head.add_scores(history, row);
            }
        }
        Ok(())
    }
}

impl Scorer for ScoringView<'_> {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        Ok(self.score_histories(&[history], out)?)
    }

    fn score_batch(
        &self,
        queries: &[(UserId, &[ItemId])],
        out: &mut [f32],
    ) -> Result<(), LearnError> {
        let histories: Vec<&[ItemId]> = queries.iter().map(|(_, h)| *h).collect();
        Ok(self.score_histories(&histories, out)?)
    }
}

impl Scorer for SequentialModel {
    fn score(&self, user: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        self.view().score(user, history, out)
    }

    fn score_batch(
        &self,
        queries: &[(UserId, &[ItemId])],
        out: &mut [f32],
    ) -> Result<(), LearnError> {
        self.view().score_batch(queries, out)
    }
}
