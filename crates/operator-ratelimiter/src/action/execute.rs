//! Runs one [`RateLimitAction`] on its [`Target`].

use operator_core::ActionReport;

use super::catalog::RateLimitAction;
use super::target::Target;
use super::{counters, policies, repair};
use crate::error::Result;

/// Runs `action` on `target`.
///
/// # Errors
/// [`Error::Action`](crate::Error::Action) when its arguments cannot apply, a Redis error when
/// Redis fails it.
pub(crate) async fn execute(target: &Target<'_>, action: &RateLimitAction) -> Result<ActionReport> {
    match action {
        RateLimitAction::ResetCounter { key } => counters::reset_counter(target, key).await,
        RateLimitAction::UpdatePolicy {
            name,
            limit,
            window_ms,
        } => policies::update_policy(target, name, *limit, *window_ms).await,
        RateLimitAction::RepairStuckKeys {} => repair::repair_stuck_keys(target).await,
        RateLimitAction::ReseedPolicies {} => policies::reseed_policies(target).await,
    }
}
