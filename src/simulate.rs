//! `concord simulate`: the deterministic simulation of the four services over many seeds.
//! A failure prints its report and the command that replays it.

use std::time::Instant;

use concord_sim::{simulate, SimConfig};
use student_affairs::simulation::StudentAffairsScenario;

use crate::cli::SimulateArgs;

pub fn run(args: SimulateArgs) -> Result<(), String> {
    let seeds = match args.seed {
        Some(seed) => seed..seed + 1,
        None => args.first..args.first.saturating_add(args.seeds),
    };
    let started = Instant::now();
    let (mut runs, mut acked, mut crashes, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    for seed in seeds {
        let config = SimConfig {
            steps: args.steps,
            ..SimConfig::new(seed)
        };
        match simulate(config, &mut StudentAffairsScenario::default()) {
            Ok(outcome) => {
                runs += 1;
                acked += outcome.commands_acked;
                crashes += outcome.crashes;
                dropped += outcome.messages_dropped;
                if args.verbose || args.seed.is_some() {
                    println!(
                        "seed {seed}: ok — {} commands acknowledged, {} refused, {} crashes, {} partitions, {} messages delivered, {} dropped, {} duplicated, stores {:?}",
                        outcome.commands_acked,
                        outcome.commands_refused,
                        outcome.crashes,
                        outcome.partitions,
                        outcome.messages_delivered,
                        outcome.messages_dropped,
                        outcome.messages_duplicated,
                        outcome.events_stored
                    );
                }
            }
            Err(report) => {
                println!("{report}");
                return Err(format!(
                    "seed {seed} failed; replay it with: concord simulate --seed {seed}"
                ));
            }
        }
    }
    println!(
        "{runs} seeds converged in {:.1} s: {acked} commands acknowledged, {crashes} crashes, {dropped} messages dropped",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
