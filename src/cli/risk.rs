//! The risk flags shared by the commands that train and those that evaluate.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use folio::env::risk::{Questionnaire, RiskProfile};

#[derive(Debug, Args)]
pub struct RiskArgs {
    /// Risk profile: its allocation limits (maximum weight per asset, minimum cash) and, in
    /// training, its reward's risk aversion; see the README's risk profile table.
    #[arg(long, value_enum, conflicts_with = "risk_questionnaire")]
    pub risk_profile: Option<super::args::RiskProfileArg>,
    /// Questionnaire (TOML with horizon_years, tolerated_loss, income_need; see
    /// envs/risk_questionnaire.toml) whose answers pick the risk profile.
    #[arg(long)]
    pub risk_questionnaire: Option<PathBuf>,
}

impl RiskArgs {
    /// The profile the flags ask for, with a line saying where it came from; none without flags.
    pub fn resolve(&self) -> Result<Option<(RiskProfile, String)>> {
        if let Some(profile) = self.risk_profile.map(RiskProfile::from) {
            return Ok(Some((profile, format!("risk profile {profile} (--risk-profile)"))));
        }
        let Some(path) = &self.risk_questionnaire else { return Ok(None) };
        let assessment = Questionnaire::load(path)?.assess();
        let profile = assessment.profile;
        Ok(Some((
            profile,
            format!(
                "risk profile {profile} from {}: horizon allows {}, tolerated loss {}, income need {}; \
                 the most cautious applies",
                path.display(),
                assessment.by_horizon,
                assessment.by_tolerated_loss,
                assessment.by_income_need
            ),
        )))
    }
}
