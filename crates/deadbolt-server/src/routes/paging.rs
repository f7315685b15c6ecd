//! Pages of lists that grow without bound, newest first: `?limit=&cursor=`, where the cursor
//! is the (time, id) of the last item of the previous page, opaque to clients.

use crate::error::{ApiError, ApiResult};
use axum::extract::Query;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use deadbolt_core::clock::{from_millis, to_millis};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1 to 100; default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// A page request, checked.
pub struct Page {
    pub limit: u32,
    pub after: Option<(OffsetDateTime, uuid::Uuid)>,
}

impl Page {
    pub fn parse(
        query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    ) -> ApiResult<Self> {
        let Query(q) = query
            .map_err(|e| ApiError::invalid_request(format!("bad query: {}", e.body_text())))?;
        let limit = q.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid_request("limit must be between 1 and 100"));
        }
        let after = q.cursor.as_deref().map(decode).transpose()?;
        Ok(Self { limit, after })
    }

    /// The cursor of the next page: present when this page came back full.
    pub fn next_cursor(
        &self,
        len: usize,
        last: Option<(OffsetDateTime, uuid::Uuid)>,
    ) -> Option<String> {
        (len == self.limit as usize)
            .then(|| last.map(|(at, id)| encode(at, id)))
            .flatten()
    }
}

fn encode(at: OffsetDateTime, id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", to_millis(at)))
}

fn decode(raw: &str) -> ApiResult<(OffsetDateTime, uuid::Uuid)> {
    let bad = || ApiError::invalid_request("bad cursor");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ms, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        from_millis(ms.parse().map_err(|_| bad())?),
        id.parse().map_err(|_| bad())?,
    ))
}
