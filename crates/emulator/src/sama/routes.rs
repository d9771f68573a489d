//! The Sama emulator's route table: API paths resolved to a [`Route`], and the dispatcher
//! that authenticates, reads the body and calls the handler.

use super::handlers::*;
use super::*;

// ---------------------------------------------------------------------------------------------
// Routing

/// A resolved API path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route<'a> {
    Project(&'a str),
    Batches(&'a str),
    Batch(&'a str, &'a str),
    Continue(&'a str, &'a str),
    Cancel(&'a str, &'a str),
    Tasks(&'a str),
    Delivered(&'a str),
    BulkUpdate(&'a str),
    DeleteTasks(&'a str),
    Task(&'a str, &'a str),
    Reject(&'a str, &'a str),
    Stats(&'a str),
    CreateSchema(&'a str),
    DeliverSchema(&'a str),
}

impl Route<'_> {
    fn allowed(&self) -> &'static [&'static str] {
        match self {
            Route::Project(_)
            | Route::Batch(..)
            | Route::Tasks(_)
            | Route::Task(..)
            | Route::Stats(_)
            | Route::CreateSchema(_)
            | Route::DeliverSchema(_) => &["GET"],
            Route::Batches(_)
            | Route::Continue(..)
            | Route::Cancel(..)
            | Route::BulkUpdate(_)
            | Route::DeleteTasks(_) => &["POST"],
            Route::Delivered(_) => &["GET", "POST"],
            Route::Reject(..) => &["PUT"],
        }
    }
}

fn json_seg(s: &str) -> Option<&str> {
    s.strip_suffix(".json").filter(|x| !x.is_empty())
}

/// Resolve a path below `/v2/`.
fn resolve(rest: &str) -> Option<Route<'_>> {
    let segs: Vec<&str> = rest.split('/').collect();
    let route = match segs.as_slice() {
        ["projects", p] => Route::Project(json_seg(p)?),
        ["projects", p, "batches.json"] => Route::Batches(p),
        ["projects", p, "batches", b] => Route::Batch(p, json_seg(b)?),
        ["projects", p, "batches", b, "continue.json"] => Route::Continue(p, b),
        ["projects", p, "batches", b, "cancel.json"] => Route::Cancel(p, b),
        ["projects", p, "tasks.json"] => Route::Tasks(p),
        ["projects", p, "tasks", "delivered.json"] => Route::Delivered(p),
        ["projects", p, "tasks", "bulk_update.json"] => Route::BulkUpdate(p),
        ["projects", p, "tasks", "delete_tasks.json"] => Route::DeleteTasks(p),
        ["projects", p, "tasks", t] => Route::Task(p, json_seg(t)?),
        ["projects", p, "tasks", t, "reject.json"] => Route::Reject(p, t),
        ["projects", p, "stats.json"] => Route::Stats(p),
        ["projects", p, "schemas", "create_task.json"] => Route::CreateSchema(p),
        ["projects", p, "schemas", "deliver_task.json"] => Route::DeliverSchema(p),
        _ => return None,
    };
    Some(route)
}

pub(super) async fn dispatch(State(emu): State<Arc<SamaEmulator>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let q = Query::parse(parts.uri.query());
    if let Some(token) = path.strip_prefix(UPLOAD_PREFIX) {
        return upload(&emu, &parts.method, token, &parts.headers, body).await;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return not_found("Not found");
    };
    if q.raw("access_key") != Some(emu.ctx.api_key.as_str()) {
        return not_authorized();
    }
    let Some(route) = resolve(rest) else {
        return not_found("Not found");
    };
    let method = parts.method.as_str();
    if !route.allowed().contains(&method) {
        return method_not_allowed(route.allowed());
    }
    let result = match route {
        Route::Project(p) => project_info(&emu, p),
        Route::Batches(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => create_batch(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::Batch(p, b) => batch_status(&emu, p, b, &q),
        Route::Continue(p, b) => continue_batch(&emu, p, b).await,
        Route::Cancel(p, b) => cancel_batch(&emu, p, b),
        Route::Tasks(p) => multi_task_status(&emu, p, &q),
        Route::Delivered(p) if parts.method == Method::GET => delivered(&emu, p, &q),
        Route::Delivered(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => delivered_since_last_call(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::BulkUpdate(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => bulk_update(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::DeleteTasks(p) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => delete_tasks(&emu, p, &b),
            Err(r) => Err(r),
        },
        Route::Task(p, t) => task_status(&emu, p, t),
        Route::Reject(p, t) => match read_body(body, &parts.headers, JSON_LIMIT).await {
            Ok(b) => reject(&emu, p, t, &b),
            Err(r) => Err(r),
        },
        Route::Stats(p) => stats(&emu, p, &q),
        Route::CreateSchema(p) => schema(&emu, p, true),
        Route::DeliverSchema(p) => schema(&emu, p, false),
    };
    result.unwrap_or_else(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        assert_eq!(resolve("projects/1001.json"), Some(Route::Project("1001")));
        assert_eq!(
            resolve("projects/1001/batches/7.json"),
            Some(Route::Batch("1001", "7"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/delivered.json"),
            Some(Route::Delivered("1001"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/abc.json"),
            Some(Route::Task("1001", "abc"))
        );
        assert_eq!(
            resolve("projects/1001/tasks/abc/reject.json"),
            Some(Route::Reject("1001", "abc"))
        );
        assert_eq!(resolve("projects/1001"), None);
        assert_eq!(resolve("projects/1001/tasks/abc"), None);
        assert_eq!(resolve("projects/1001/unknown.json"), None);
    }
}
