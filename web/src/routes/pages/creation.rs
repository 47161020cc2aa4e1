//! `GET /c/{slug}/creations/{submission}`: a creation's fakes, each with a strip of its sampled
//! face crops and the detectors it fooled at their thresholds (public, like the board: no
//! per-video scores). The crops are images of the fake itself, so
//! `GET /videos/{id}/crops/{n}` serves them only to the creation's team and organizers (401
//! `login_required`, 403 `not_yours` as JSON), as JPEG thumbnails encoded once from the crop cache
//! and kept beside it (erased with it).

use super::{Nav, PageError, render};
use crate::admin::competition;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::session::Browser;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use arena::boards::creation_page;
use arena::domain::VideoRole;
use arena::repo;
use askama::Template;
use std::collections::HashMap;

/// Crops shown per fake on the page.
pub const STRIP: usize = 6;
/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 96;
const JPEG_QUALITY: u8 = 80;

pub struct FakeView {
    pub video: i64,
    /// Crop numbers to show (`/videos/{video}/crops/{n}`).
    pub crops: Vec<usize>,
    pub ssim: String,
    /// `team #submission` of each detector it fooled.
    pub fooled: Vec<String>,
    pub judged: usize,
}

#[derive(Template)]
#[template(path = "creation.html")]
struct CreationPage {
    nav: Nav,
    slug: String,
    title: String,
    team: String,
    submission: i64,
    baseline: bool,
    fpr_percent: String,
    fakes: Vec<FakeView>,
    /// The viewer may load the thumbnails (the creation's team or an organizer).
    can_see: bool,
}

fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

pub async fn get(
    ctx: web::Data<AppContext>,
    browser: Browser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, submission) = path.into_inner();
    let comp = competition(&ctx, &slug).await?;
    let not_found = || {
        ApiError::of(
            Code::CreationNotFound,
            format!("no creation {submission:?} on the board of {slug:?}"),
        )
    };
    let id: i64 = submission.parse().map_err(|_| not_found())?;
    let page = creation_page(ctx.db(), &comp, id)
        .await?
        .ok_or_else(not_found)?;
    let names: HashMap<i64, String> = (page.detectors.iter())
        .map(|(s, t)| (*s, format!("{t} #{s}")))
        .collect();
    let ids: Vec<i64> = page.fakes.iter().map(|f| f.video).collect();
    let videos: HashMap<i64, arena::entities::videos::Model> =
        (repo::videos::find_many(ctx.db(), &ids).await?.into_iter())
            .map(|v| (v.id, v))
            .collect();
    let owner = repo::submissions::find(ctx.db(), id).await?;
    let can_see = browser
        .team
        .as_ref()
        .is_some_and(|t| t.is_admin() || owner.as_ref().is_some_and(|s| s.team_id == t.team.id));
    let fakes = (page.fakes.iter())
        .map(|f| {
            let v = videos.get(&f.video);
            let frames = v
                .and_then(|v| v.frame_indices.as_deref())
                .and_then(|j| serde_json::from_str::<Vec<u64>>(j).ok())
                .map_or(0, |i| i.len());
            FakeView {
                video: f.video,
                crops: (0..frames.min(STRIP)).collect(),
                ssim: v
                    .and_then(|v| v.ssim)
                    .map_or_else(|| "…".to_owned(), |s| format!("{s:.4}")),
                fooled: (f.fooled.iter())
                    .map(|s| names.get(s).cloned().unwrap_or_else(|| format!("#{s}")))
                    .collect(),
                judged: f.judged,
            }
        })
        .collect();
    let view = CreationPage {
        nav: Nav::of(&browser),
        slug: comp.slug.clone(),
        title: comp.title.clone(),
        team: page.team,
        submission: page.submission,
        baseline: page.baseline,
        fpr_percent: percent(page.fpr),
        fakes,
        can_see,
    };
    render(&view, &browser)
}

/// `GET /videos/{id}/crops/{n}`: crop `n` of a fake's crop cache as a JPEG thumbnail, for the
/// creation's team and organizers only.
pub async fn thumbnail(
    ctx: web::Data<AppContext>,
    browser: Browser,
    path: web::Path<(i64, usize)>,
) -> Result<HttpResponse, ApiError> {
    let (id, n) = path.into_inner();
    let caller = browser.require_team()?;
    let not_found = || ApiError::of(Code::CropNotFound, format!("no crop {n} of video {id}"));
    let video = repo::videos::find(ctx.db(), id)
        .await?
        .ok_or_else(not_found)?;
    let owner = match video.submission_id {
        Some(s) if video.role == VideoRole::Fake.as_str() => {
            repo::submissions::find(ctx.db(), s).await?
        }
        _ => None,
    };
    // Reals and targets are never shown here; a fake only to its team and organizers.
    let Some(owner) = owner else {
        return Err(not_found());
    };
    if owner.team_id != caller.team.id && !caller.is_admin() {
        return Err(ApiError::of(
            Code::NotYours,
            "the crops of a fake are shown to its team and the organizers only",
        ));
    }
    let key = video.crops_key.clone().ok_or_else(not_found)?;
    let thumb_key = format!("{key}.thumb-{n}.jpg");
    let storage = ctx.storage();
    let jpeg = if storage
        .exists(&thumb_key)
        .await
        .map_err(ApiError::internal)?
    {
        storage.get(&thumb_key).await.map_err(ApiError::internal)?
    } else {
        // A withdrawn fake's crops are erased: nothing to show.
        if !storage.exists(&key).await.map_err(ApiError::internal)? {
            return Err(not_found());
        }
        let bin = storage.get(&key).await.map_err(ApiError::internal)?;
        let jpeg = web::block(move || encode_thumbnail(&bin, n))
            .await
            .map_err(ApiError::internal)??;
        let Some(jpeg) = jpeg else {
            return Err(not_found());
        };
        storage
            .put(&thumb_key, jpeg.clone().into())
            .await
            .map_err(ApiError::internal)?;
        jpeg.into()
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        // Only the team's own browser may keep it.
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(jpeg))
}

/// Crop `n` of an encoded crop cache, scaled to fit [`THUMB_SIDE`], as JPEG; `None` past the
/// last crop.
pub fn encode_thumbnail(bin: &[u8], n: usize) -> Result<Option<Vec<u8>>, ApiError> {
    use arena_worker::face_crop::{CropPolicy, cut_for};
    use arena_worker::manifest::CropMode;
    let crops = arena_worker::crops::Crops::parse(bin).map_err(ApiError::internal)?;
    let Some(&cached) = crops.images.get(n) else {
        return Ok(None);
    };
    // The cache holds a wider context around the face: show the crop a detector with the
    // default manifest reads (1.3×, not rotated).
    let context = crops.contexts.get(n).and_then(Option::as_ref);
    let cut = cut_for(cached, context, CropMode::Face, CropPolicy::DEFAULT);
    let img = arena_worker::media::AsRgb::rgb(&cut);
    let rgb = image::RgbImage::from_raw(img.width, img.height, img.data.to_vec())
        .ok_or_else(|| ApiError::internal("crop size does not match its bytes"))?;
    let scale = f64::from(THUMB_SIDE) / f64::from(img.width.max(img.height).max(1));
    let thumb = if scale < 1.0 {
        let w = ((f64::from(img.width) * scale).round() as u32).max(1);
        let h = ((f64::from(img.height) * scale).round() as u32).max(1);
        image::imageops::thumbnail(&rgb, w, h)
    } else {
        rgb
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(
            thumb.as_raw(),
            thumb.width(),
            thumb.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(ApiError::internal)?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arena_worker::RgbImage;
    use arena_worker::crops::Crops;

    #[test]
    fn thumbnails_are_small_jpegs_of_the_crop() {
        let img = |w: u32, h: u32, v: u8| RgbImage {
            width: w,
            height: h,
            data: vec![v; (w * h * 3) as usize],
        };
        let bin = Crops {
            indices: vec![0, 5],
            images: vec![img(224, 112, 200), img(32, 32, 10)],
            detected: vec![true, false],
            contexts: vec![None, None],
        }
        .encode();
        let big = encode_thumbnail(&bin, 0).ok().flatten().unwrap_or_default();
        let decoded = image::load_from_memory_with_format(&big, image::ImageFormat::Jpeg)
            .map(|i| (i.width(), i.height()));
        assert_eq!(decoded.ok(), Some((THUMB_SIDE, THUMB_SIDE / 2)));
        let small = encode_thumbnail(&bin, 1).ok().flatten().unwrap_or_default();
        let decoded = image::load_from_memory_with_format(&small, image::ImageFormat::Jpeg)
            .map(|i| (i.width(), i.height()));
        assert_eq!(decoded.ok(), Some((32, 32)));
        assert!(matches!(encode_thumbnail(&bin, 2), Ok(None)));
        assert!(encode_thumbnail(b"junk", 0).is_err());
    }
}
