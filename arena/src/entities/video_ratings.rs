//! The `video_ratings` table: one rater's scores (1–5) of one fake on the five DFGC-2022 axes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "video_ratings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub competition_id: i64,
    pub submission_id: i64,
    pub video_id: i64,
    /// The rater's team id.
    pub rater_id: i64,
    pub realism: i16,
    pub quality: i16,
    pub expression: i16,
    pub mouth: i16,
    pub identity: i16,
    pub created_at_ms: i64,
}

impl Model {
    /// (axis, value) on the five axes, in the order of [`crate::repo::video_ratings::AXES`].
    pub fn values(&self) -> [(&'static str, f64); 5] {
        [
            ("realism", f64::from(self.realism)),
            ("quality", f64::from(self.quality)),
            ("expression", f64::from(self.expression)),
            ("mouth", f64::from(self.mouth)),
            ("identity", f64::from(self.identity)),
        ]
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
