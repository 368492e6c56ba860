//! The double-entry ledger, as pure functions: every money movement is a [`Transaction`] whose
//! entries sum to zero, and a party's balance is the sum of its entries — derived, never stored.
//!
//! Sign convention: an entry credits (+) or debits (−) what the platform owes a party. Sellers,
//! collaborators, affiliates and the platform itself hold positive balances after a sale; the
//! payment processor's party holds the matching negative balance (the money it collected and
//! has yet to hand over), so that the books of every currency sum to zero.
//!
//! A sale of `total` splits as: the processor's fee first; then, per order line, the affiliate's
//! commission on what is left; then the rest by the product's revenue-share rule (platform fee,
//! creator org, collaborators), each split by the largest remainder so no minor unit is lost.
//! Refunds reverse every entry of the sale in proportion (cumulatively, so two partial refunds
//! that add up to the whole reverse the sale exactly); payouts move a party's balance to the
//! processor, and a failed payout moves it back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::money::{bps_of, split_largest_remainder, WHOLE_BPS};

/// Who a ledger entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// A person (collaborator, affiliate), by user id.
    User,
    /// An organisation (the seller), by org id.
    Org,
    /// The platform's own account (its fees), id `platform`.
    Platform,
    /// The payment processor's clearing account, id `stripe`.
    Processor,
}

impl PartyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::User => "user",
            PartyKind::Org => "org",
            PartyKind::Platform => "platform",
            PartyKind::Processor => "processor",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(PartyKind::User),
            "org" => Some(PartyKind::Org),
            "platform" => Some(PartyKind::Platform),
            "processor" => Some(PartyKind::Processor),
            _ => None,
        }
    }
}

/// A ledger party: kind and id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Party {
    /// What kind of party.
    pub kind: PartyKind,
    /// Its id (`usr_…`, `org_…`, `platform`, `stripe`).
    pub id: String,
}

impl Party {
    /// A user.
    pub fn user(id: &str) -> Self {
        Self {
            kind: PartyKind::User,
            id: id.to_string(),
        }
    }
    /// An organisation.
    pub fn org(id: &str) -> Self {
        Self {
            kind: PartyKind::Org,
            id: id.to_string(),
        }
    }
    /// The platform.
    pub fn platform() -> Self {
        Self {
            kind: PartyKind::Platform,
            id: "platform".to_string(),
        }
    }
    /// The payment processor (Stripe).
    pub fn processor() -> Self {
        Self {
            kind: PartyKind::Processor,
            id: "stripe".to_string(),
        }
    }
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The buyer's payment, collected by the processor.
    Sale,
    /// The processor's fee.
    ProcessorFee,
    /// The platform's share.
    PlatformFee,
    /// A creator's or collaborator's share.
    RevenueShare,
    /// An affiliate's commission.
    AffiliateCommission,
    /// A refund (or lost dispute) reversing part of a sale.
    Refund,
    /// Money paid out to a party.
    Payout,
    /// A failed payout put back.
    PayoutReversal,
}

impl EntryKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Sale => "sale",
            EntryKind::ProcessorFee => "processor_fee",
            EntryKind::PlatformFee => "platform_fee",
            EntryKind::RevenueShare => "revenue_share",
            EntryKind::AffiliateCommission => "affiliate_commission",
            EntryKind::Refund => "refund",
            EntryKind::Payout => "payout",
            EntryKind::PayoutReversal => "payout_reversal",
        }
    }
}

/// One line of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Whose balance it changes.
    pub party: Party,
    /// What it records.
    pub kind: EntryKind,
    /// Minor units; positive credits the party.
    pub amount: i64,
}

/// A set of entries that happen together and sum to zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The entries, in a stable order.
    pub entries: Vec<Entry>,
}

impl Transaction {
    /// Sum of the entries (zero for every transaction this module makes).
    pub fn sum(&self) -> i64 {
        self.entries.iter().map(|e| e.amount).sum()
    }

    /// Whether the entries sum to zero.
    pub fn is_balanced(&self) -> bool {
        self.sum() == 0
    }

    /// Adds `amount` to the entry of `party` and `kind`, creating it if needed.
    fn add(&mut self, party: &Party, kind: EntryKind, amount: i64) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| e.party == *party && e.kind == kind)
        {
            entry.amount += amount;
        } else {
            self.entries.push(Entry {
                party: party.clone(),
                kind,
                amount,
            });
        }
    }
}

/// How a product's proceeds (after processor fee and affiliate commission) are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRule {
    /// The platform's fee.
    pub platform_bps: u32,
    /// The seller org's share.
    pub creator_bps: u32,
    /// Collaborators' shares, by user id.
    pub collaborators: Vec<(String, u32)>,
}

/// Why a revenue-share rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The shares do not add up to exactly 100 %.
    #[error("shares must add up to 10000 basis points (100 %), not {0}")]
    NotWhole(u64),
    /// A collaborator is named twice.
    #[error("collaborator {0} is named more than once")]
    DuplicateCollaborator(String),
    /// More collaborators than a rule may have.
    #[error("at most {MAX_COLLABORATORS} collaborators")]
    TooManyCollaborators,
}

/// Most collaborators one product's rule may name.
pub const MAX_COLLABORATORS: usize = 20;

impl SplitRule {
    /// The rule of a product without one: the platform's default fee, the rest to the seller.
    pub fn default_with_platform_fee(platform_bps: u32) -> Self {
        let platform_bps = platform_bps.min(WHOLE_BPS);
        Self {
            platform_bps,
            creator_bps: WHOLE_BPS - platform_bps,
            collaborators: Vec::new(),
        }
    }

    /// Checks that the shares add up to exactly 100 % and name each collaborator once.
    pub fn validate(&self) -> Result<(), SplitError> {
        if self.collaborators.len() > MAX_COLLABORATORS {
            return Err(SplitError::TooManyCollaborators);
        }
        for (index, (user, _)) in self.collaborators.iter().enumerate() {
            if self.collaborators[..index].iter().any(|(u, _)| u == user) {
                return Err(SplitError::DuplicateCollaborator(user.clone()));
            }
        }
        let sum = self.platform_bps as u64
            + self.creator_bps as u64
            + self
                .collaborators
                .iter()
                .map(|(_, bps)| *bps as u64)
                .sum::<u64>();
        if sum != WHOLE_BPS as u64 {
            return Err(SplitError::NotWhole(sum));
        }
        Ok(())
    }
}

/// One paid order line, as the ledger sees it.
#[derive(Debug, Clone)]
pub struct SaleLine {
    /// What the buyer paid for the line (after discounts), minor units.
    pub amount: i64,
    /// The product's revenue-share rule (valid).
    pub rule: SplitRule,
    /// The affiliate's commission on this line (0 when none or the line is outside its scope).
    pub affiliate_bps: u32,
}

/// A paid order.
#[derive(Debug, Clone)]
pub struct Sale {
    /// The seller organisation (the creator's share lands there).
    pub seller_org: String,
    /// Its lines.
    pub lines: Vec<SaleLine>,
    /// The processor's fee for the whole payment (capped at the total).
    pub processor_fee: i64,
    /// The attributed affiliate, if any.
    pub affiliate_user: Option<String>,
}

/// The processor's fee at a configured rate: `total × bps / 10 000 + fixed`, at most the total.
pub fn processor_fee(total: i64, bps: u32, fixed: i64) -> i64 {
    if total <= 0 {
        return 0;
    }
    (bps_of(total, bps) + fixed.max(0)).min(total)
}

/// The transaction of a sale (see the module documentation for the order of the splits).
pub fn sale(sale: &Sale) -> Transaction {
    let total: i64 = sale.lines.iter().map(|l| l.amount.max(0)).sum();
    let fee = sale.processor_fee.clamp(0, total);
    let weights: Vec<u64> = sale.lines.iter().map(|l| l.amount.max(0) as u64).collect();
    let fees = split_largest_remainder(fee, &weights).unwrap_or_else(|| vec![0; sale.lines.len()]);
    let processor = Party::processor();
    let seller = Party::org(&sale.seller_org);
    let platform = Party::platform();
    let mut txn = Transaction::default();
    txn.add(&processor, EntryKind::Sale, -total);
    txn.add(&processor, EntryKind::ProcessorFee, fee);
    for (line, line_fee) in sale.lines.iter().zip(fees) {
        let net = line.amount.max(0) - line_fee;
        let commission = match &sale.affiliate_user {
            Some(affiliate) if line.affiliate_bps > 0 => {
                let commission = bps_of(net, line.affiliate_bps.min(WHOLE_BPS));
                txn.add(
                    &Party::user(affiliate),
                    EntryKind::AffiliateCommission,
                    commission,
                );
                commission
            }
            _ => 0,
        };
        let rest = net - commission;
        let mut weights = vec![line.rule.platform_bps as u64, line.rule.creator_bps as u64];
        weights.extend(line.rule.collaborators.iter().map(|(_, bps)| *bps as u64));
        let parts = split_largest_remainder(rest, &weights).unwrap_or_else(|| {
            // A rule with no shares at all cannot come through validation; keep the money
            // with the seller rather than lose it.
            let mut parts = vec![0; weights.len()];
            parts[1] = rest;
            parts
        });
        txn.add(&platform, EntryKind::PlatformFee, parts[0]);
        txn.add(&seller, EntryKind::RevenueShare, parts[1]);
        for ((user, _), part) in line.rule.collaborators.iter().zip(&parts[2..]) {
            txn.add(&Party::user(user), EntryKind::RevenueShare, *part);
        }
    }
    txn.entries
        .retain(|e| e.amount != 0 || e.kind == EntryKind::Sale);
    txn
}

/// What a party had received from a sale once `refunded` of its `total` is given back: the
/// sale's credits minus their proportional share of the refund (largest remainder).
fn after_refund(sale: &Transaction, refunded: i64) -> Vec<i64> {
    let credits: Vec<&Entry> = credits(sale);
    let weights: Vec<u64> = credits.iter().map(|e| e.amount.max(0) as u64).collect();
    let clawed =
        split_largest_remainder(refunded, &weights).unwrap_or_else(|| vec![0; weights.len()]);
    credits
        .iter()
        .zip(clawed)
        .map(|(e, c)| e.amount - c)
        .collect()
}

/// The entries of a sale that credit someone (everything but the processor's collection).
fn credits(sale: &Transaction) -> Vec<&Entry> {
    sale.entries
        .iter()
        .filter(|e| e.kind != EntryKind::Sale)
        .collect()
}

/// The transaction that takes a sale from `refunded_before` to `refunded_after` refunded
/// (cumulative amounts, `0 ≤ before ≤ after ≤ total`): every credit of the sale shrinks in
/// proportion, and the processor gives the difference back to the buyer.
pub fn refund(sale: &Transaction, refunded_before: i64, refunded_after: i64) -> Transaction {
    let before = after_refund(sale, refunded_before);
    let after = after_refund(sale, refunded_after);
    let mut txn = Transaction::default();
    txn.add(
        &Party::processor(),
        EntryKind::Refund,
        refunded_after - refunded_before,
    );
    for ((entry, b), a) in credits(sale).into_iter().zip(before).zip(after) {
        if a != b {
            txn.add(&entry.party, EntryKind::Refund, a - b);
        }
    }
    txn
}

/// A payout of `amount` to `party`: its balance goes to the processor, which sends the money.
pub fn payout(party: &Party, amount: i64) -> Transaction {
    Transaction {
        entries: vec![
            Entry {
                party: party.clone(),
                kind: EntryKind::Payout,
                amount: -amount,
            },
            Entry {
                party: Party::processor(),
                kind: EntryKind::Payout,
                amount,
            },
        ],
    }
}

/// Puts back a payout of `amount` to `party` that failed.
pub fn payout_reversal(party: &Party, amount: i64) -> Transaction {
    Transaction {
        entries: vec![
            Entry {
                party: party.clone(),
                kind: EntryKind::PayoutReversal,
                amount,
            },
            Entry {
                party: Party::processor(),
                kind: EntryKind::PayoutReversal,
                amount: -amount,
            },
        ],
    }
}

/// Balances of every party, derived from the transactions.
pub fn balances<'a>(txns: impl IntoIterator<Item = &'a Transaction>) -> BTreeMap<Party, i64> {
    let mut out = BTreeMap::new();
    for txn in txns {
        for entry in &txn.entries {
            *out.entry(entry.party.clone()).or_insert(0) += entry.amount;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule() -> SplitRule {
        SplitRule {
            platform_bps: 1000,
            creator_bps: 6000,
            collaborators: vec![("usr_collab".into(), 3000)],
        }
    }

    fn amount(txn: &Transaction, party: &Party) -> i64 {
        txn.entries
            .iter()
            .filter(|e| e.party == *party)
            .map(|e| e.amount)
            .sum()
    }

    #[test]
    fn a_sale_splits_fee_commission_and_shares_exactly() {
        // 4000 paid; fee 2.9 % + 30 = 146; net 3854; affiliate 10 % = 385; the 3469 left splits
        // 10/60/30 as 346.9/2081.4/1040.7 → 347/2081/1041 by largest remainder.
        let fee = processor_fee(4000, 290, 30);
        assert_eq!(fee, 146);
        let txn = sale(&Sale {
            seller_org: "org_seller".into(),
            lines: vec![SaleLine {
                amount: 4000,
                rule: rule(),
                affiliate_bps: 1000,
            }],
            processor_fee: fee,
            affiliate_user: Some("usr_aff".into()),
        });
        assert!(txn.is_balanced());
        assert_eq!(amount(&txn, &Party::processor()), -3854);
        assert_eq!(amount(&txn, &Party::user("usr_aff")), 385);
        assert_eq!(amount(&txn, &Party::platform()), 347);
        assert_eq!(amount(&txn, &Party::org("org_seller")), 2081);
        assert_eq!(amount(&txn, &Party::user("usr_collab")), 1041);

        // A refund of 1000 claws back 146/385/347/2081/1041 × 1000/4000 by largest remainder.
        let partial = refund(&txn, 0, 1000);
        assert!(partial.is_balanced());
        assert_eq!(amount(&partial, &Party::org("org_seller")), -520);
        assert_eq!(amount(&partial, &Party::platform()), -87);
        assert_eq!(amount(&partial, &Party::user("usr_collab")), -260);
        assert_eq!(amount(&partial, &Party::user("usr_aff")), -96);
        let rest = refund(&txn, 1000, 4000);
        let all = balances([&txn, &partial, &rest]);
        assert!(all.values().all(|v| *v == 0), "{all:?}");
    }

    #[test]
    fn rules_must_add_up_to_one_hundred_percent() {
        assert_eq!(rule().validate(), Ok(()));
        let mut over = rule();
        over.creator_bps = 6001;
        assert_eq!(over.validate(), Err(SplitError::NotWhole(10_001)));
        let mut twice = rule();
        twice.collaborators.push(("usr_collab".into(), 0));
        assert!(matches!(
            twice.validate(),
            Err(SplitError::DuplicateCollaborator(_))
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sale {
            amounts: Vec<i64>,
            platform_bps: u32,
            collab_bps: u32,
            affiliate_bps: u32,
            fee_bps: u32,
            fee_fixed: i64,
        },
        Refund {
            pick: usize,
            fraction_per_mille: i64,
        },
        Payout {
            pick: usize,
            fail: bool,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                proptest::collection::vec(0i64..200_000, 1..4),
                0u32..3000,
                0u32..4000,
                0u32..3000,
                0u32..1000,
                0i64..100
            )
                .prop_map(
                    |(amounts, platform_bps, collab_bps, affiliate_bps, fee_bps, fee_fixed)| {
                        Op::Sale {
                            amounts,
                            platform_bps,
                            collab_bps,
                            affiliate_bps,
                            fee_bps,
                            fee_fixed,
                        }
                    }
                ),
            (any::<usize>(), 0i64..=1000).prop_map(|(pick, fraction_per_mille)| Op::Refund {
                pick,
                fraction_per_mille
            }),
            (any::<usize>(), any::<bool>()).prop_map(|(pick, fail)| Op::Payout { pick, fail }),
        ]
    }

    proptest! {
        /// Random sequences of sales, refunds and payouts: every transaction sums to zero, the
        /// running balances equal a recomputation from all entries, the books sum to zero, and
        /// a fully refunded sale leaves nobody anything.
        #[test]
        fn ledger_stays_balanced(ops in proptest::collection::vec(op(), 1..40)) {
            let users = ["usr_a", "usr_b", "usr_c"];
            let mut journal: Vec<Transaction> = Vec::new();
            let mut running: BTreeMap<Party, i64> = BTreeMap::new();
            // (sale transaction, total, refunded so far, its refunds)
            let mut sales: Vec<(Transaction, i64, i64, Vec<Transaction>)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let txn = match op {
                    Op::Sale { amounts, platform_bps, collab_bps, affiliate_bps, fee_bps, fee_fixed } => {
                        let rule = SplitRule {
                            platform_bps,
                            creator_bps: WHOLE_BPS - platform_bps - collab_bps,
                            collaborators: vec![(users[step % 3].to_string(), collab_bps)],
                        };
                        prop_assert!(rule.validate().is_ok());
                        let total: i64 = amounts.iter().sum();
                        let txn = sale(&Sale {
                            seller_org: format!("org_{}", step % 2),
                            lines: amounts.iter().map(|a| SaleLine { amount: *a, rule: rule.clone(), affiliate_bps }).collect(),
                            processor_fee: processor_fee(total, fee_bps, fee_fixed),
                            affiliate_user: (affiliate_bps % 2 == 0).then(|| users[(step + 1) % 3].to_string()),
                        });
                        let fee = processor_fee(total, fee_bps, fee_fixed);
                        prop_assert_eq!(amount(&txn, &Party::processor()), fee - total);
                        sales.push((txn.clone(), total, 0, Vec::new()));
                        txn
                    }
                    Op::Refund { pick, fraction_per_mille } => {
                        if sales.is_empty() { continue; }
                        let index = pick % sales.len();
                        let (sale_txn, total, refunded, refunds) = &mut sales[index];
                        let target = (*refunded + (*total - *refunded) * fraction_per_mille / 1000).min(*total);
                        let txn = refund(sale_txn, *refunded, target);
                        *refunded = target;
                        refunds.push(txn.clone());
                        txn
                    }
                    Op::Payout { pick, fail } => {
                        let owed: Vec<(Party, i64)> = running.iter()
                            .filter(|(p, v)| matches!(p.kind, PartyKind::User | PartyKind::Org) && **v > 0)
                            .map(|(p, v)| (p.clone(), *v)).collect();
                        if owed.is_empty() { continue; }
                        let (party, value) = owed[pick % owed.len()].clone();
                        let paid = payout(&party, value);
                        prop_assert!(paid.is_balanced());
                        for e in &paid.entries { *running.entry(e.party.clone()).or_insert(0) += e.amount; }
                        journal.push(paid);
                        if !fail { continue; }
                        payout_reversal(&party, value)
                    }
                };
                prop_assert!(txn.is_balanced(), "unbalanced: {:?}", txn);
                for e in &txn.entries { *running.entry(e.party.clone()).or_insert(0) += e.amount; }
                journal.push(txn);
                let recomputed = balances(&journal);
                for (party, value) in &running {
                    prop_assert_eq!(*value, recomputed.get(party).copied().unwrap_or(0));
                }
                prop_assert_eq!(recomputed.values().sum::<i64>(), 0);
            }
            // Refund the rest of every sale: its partial refunds and the last one together
            // reverse it exactly, leaving every party of that sale at zero.
            for (sale_txn, total, refunded, refunds) in &sales {
                let rest = refund(sale_txn, *refunded, *total);
                prop_assert!(rest.is_balanced());
                let own = std::iter::once(sale_txn).chain(refunds).chain(std::iter::once(&rest));
                let left = balances(own);
                prop_assert!(left.values().all(|v| *v == 0), "{:?}", left);
            }
        }
    }
}
