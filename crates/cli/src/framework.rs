//! `drover framework list|shutdown` (also `drover service …`, as the dcos CLI names it): the
//! frameworks from the master's `/master/frameworks`, and an operator's teardown.

use crate::args::Common;
use crate::client::Client;
use crate::error::Error;
use crate::render::{opt_num, outln, print_json, table};
use crate::views::{Frameworks, V0Framework};
use clap::Subcommand;
use comfy_table::Table;

#[derive(Subcommand, Debug)]
pub enum FrameworkCmd {
    /// List the frameworks.
    List {
        /// Include completed (torn down) frameworks.
        #[arg(long)]
        all: bool,
    },
    /// Tear a framework down: its tasks are killed and it may not come back (the operator API's
    /// TEARDOWN, as `dcos service shutdown`).
    Shutdown {
        /// The framework's id (`drover service list` shows it).
        id: String,
    },
}

pub async fn framework(cmd: FrameworkCmd, c: Common) -> Result<(), Error> {
    let master = Client::master(&c.master).await?;
    let all = match cmd {
        FrameworkCmd::List { all } => all,
        FrameworkCmd::Shutdown { id } => {
            let call = serde_json::json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": id}}});
            master.operator(&call).await?;
            if c.json {
                print_json(&serde_json::json!({"shutdown": id}));
            } else {
                outln!("framework {id} is torn down: its tasks are being killed");
            }
            return Ok(());
        }
    };
    let v: Frameworks = master.get("/master/frameworks").await?;
    let mut list = v.frameworks;
    if all {
        list.extend(v.completed_frameworks);
    }
    if c.json {
        // Without their tasks: `drover task list` has those.
        for f in list.iter_mut() {
            if let Some(o) = f.raw.as_object_mut() {
                o.remove("tasks");
                o.remove("completed_tasks");
            }
        }
        print_json(&list);
        return Ok(());
    }
    outln!("{}", frameworks_table(list.iter().map(|f| &f.view)));
    Ok(())
}

fn frameworks_table<'a>(list: impl Iterator<Item = &'a V0Framework>) -> Table {
    let mut t = table(&[
        "ID",
        "NAME",
        "ROLES",
        "ACTIVE",
        "CONNECTED",
        "TASKS",
        "CPUS",
        "MEM (MiB)",
    ]);
    for f in list {
        t.add_row(vec![
            f.id.clone(),
            f.name.clone(),
            f.roles
                .as_ref()
                .map(|r| r.join(","))
                .unwrap_or_else(|| f.role.clone()),
            f.active.to_string(),
            f.connected.to_string(),
            f.tasks.len().to_string(),
            opt_num(f.used_resources.cpus),
            opt_num(f.used_resources.mem),
        ]);
    }
    t
}
