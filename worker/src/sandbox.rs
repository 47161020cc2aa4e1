//! Decoding and inference of uploads in a child process (`arena-sandbox`): it limits itself
//! (RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_FSIZE) and leaves the network, the worker kills it
//! after a wall-clock limit, and every way it can end becomes a
//! [`JobError`](crate::job_error::JobError) with a reason. An upload check gets a fresh child per
//! job; score jobs go to a long-lived child of the worker slot ([`ScoreChild`]) that keeps one
//! detector's session between jobs, and decodes to the slot's decode child ([`prepare_serving`])
//! that keeps the face model between the videos of one team. See docs/SANDBOX.md.

pub mod child;
mod config;
pub mod confine;
mod fork;
pub mod handoff;
mod judge;
pub mod protocol;
mod serve;
mod spawn;
mod tasks;

pub use crate::job_error::{
    CPU_LIMIT, CRASHED, FILE_LIMIT, KILLED, MEMORY_LIMIT, PROTOCOL, SYSCALL, TIMEOUT, UNAVAILABLE,
    blames_upload, died,
};
pub use config::{BIN_NAME, SandboxConfig, find_bin};
pub use fork::FORK_SERVER_FLAG;
pub use serve::{
    ProbeChildren, ScoreChild, ServingChild, check_serving, prepare_serving, score_serving,
};
pub use spawn::{gpu_env, run, start_fork_server};
pub use tasks::{check_detector, inspect, prepare, score, selftest, unzip};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::config::*;
    use super::judge::*;
    use super::protocol::{Isolation, Limits, Output, Response, Timings};
    use super::spawn::*;
    use super::*;
    use crate::detector::SessionOptions;
    use crate::job_error::JobError;
    use nix::sys::signal::Signal;
    use std::ffi::OsString;
    use std::path::PathBuf;
    use std::time::Duration;

    const LIMITS: Limits = Limits {
        memory_mb: 512,
        cpu_seconds: 30,
        open_files: 64,
        file_size_mb: 8,
    };

    fn judged(exit: ChildExit) -> JobError {
        judge(&LIMITS, Duration::from_secs(7), &exit).unwrap_err()
    }

    fn killed(signal: Signal, stderr: &str) -> JobError {
        judged(ChildExit {
            signal: Some(signal as i32),
            stderr: stderr.to_owned(),
            ..ChildExit::default()
        })
    }

    #[test]
    fn deaths_are_named() {
        let e = killed(Signal::SIGKILL, "");
        assert_eq!(e.code, KILLED);
        assert_eq!(e.message, "evaluation child killed by signal 9 (SIGKILL)");
        assert!(!e.permanent);
        let e = killed(Signal::SIGSEGV, "");
        assert_eq!(e.message, "evaluation child killed by signal 11 (SIGSEGV)");
        assert!(!blames_upload(e.code));
        let e = killed(Signal::SIGXCPU, "");
        assert_eq!(e.code, CPU_LIMIT);
        assert!(e.message.contains("CPU-time limit of 30 s"), "{e}");
        assert!(e.message.contains("SIGXCPU"), "{e}");
        assert_eq!(killed(Signal::SIGXFSZ, "").code, FILE_LIMIT);
        let e = killed(
            Signal::SIGABRT,
            "memory allocation of 4294967296 bytes failed\n",
        );
        assert_eq!(e.code, MEMORY_LIMIT);
        assert!(e.message.contains("memory limit of 512 MiB"), "{e}");
        assert!(blames_upload(e.code) && !e.permanent);
        let e = judged(ChildExit {
            timed_out: true,
            signal: Some(9),
            ..ChildExit::default()
        });
        assert_eq!(e.code, TIMEOUT);
        assert_eq!(
            e.message,
            "evaluation child timed out after 7 s and was killed"
        );
        let e = judged(ChildExit {
            code: Some(0),
            stdout: b"garbage".to_vec(),
            ..ChildExit::default()
        });
        assert_eq!(e.code, PROTOCOL);
    }

    fn answered(response: &Response, code: i32) -> ChildExit {
        ChildExit {
            code: Some(code),
            stdout: format!("noise\n{}\n", serde_json::to_string(response).unwrap()).into_bytes(),
            ..ChildExit::default()
        }
    }

    #[test]
    fn answers_are_passed_on() {
        let ok = Response::Ok {
            isolation: Isolation::default(),
            timings: Timings::default(),
            output: Output::Prepared {
                frames: 3,
                face_frames: 2,
                decodes: 1,
            },
        };
        let (_, _, output) = judge(&LIMITS, Duration::from_secs(1), &answered(&ok, 0)).unwrap();
        assert_eq!(
            output,
            Output::Prepared {
                frames: 3,
                face_frames: 2,
                decodes: 1,
            }
        );
        let error = |code: &str, message: &str| Response::Error {
            isolation: None,
            error: protocol::ChildError {
                code: code.to_owned(),
                message: message.to_owned(),
                client_error: true,
            },
        };
        let e = judged(answered(
            &error("invalid_video", "no frame could be decoded"),
            1,
        ));
        assert_eq!((e.code, e.permanent), ("invalid_video", true));
        assert_eq!(e.message, "no frame could be decoded");
        let e = judged(answered(&error("Bad Code!", "x"), 1));
        assert_eq!(e.code, "sandbox_error");
        let e = judged(answered(
            &error(
                "model_run_failed",
                "Failed to allocate memory for requested buffer",
            ),
            1,
        ));
        assert_eq!((e.code, e.permanent), (MEMORY_LIMIT, false));
    }

    #[test]
    fn cuda_children_get_one_device_mapped_through_the_workers_own_list() {
        let mut config = SandboxConfig {
            bin: PathBuf::from("/opt/arena/arena-sandbox"),
            memory_mb: 1024,
            cpu_seconds: 10,
            timeout: Duration::from_secs(10),
            ort_lib: PathBuf::from("/opt/arena/.cache/onnxruntime-gpu/lib/libonnxruntime.so"),
            face_model: PathBuf::from("/opt/arena/blazeface.onnx"),
            session: SessionOptions::default(),
            confine: true,
            fork_server: true,
        };
        let env = |config: &SandboxConfig, parent: &[(&str, &str)]| {
            let parent: Vec<(String, String)> = parent
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            gpu_env(config, |name| {
                parent
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| OsString::from(v))
            })
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect::<Vec<_>>()
        };
        assert!(
            env(&config, &[("CUDA_VISIBLE_DEVICES", "1")]).is_empty(),
            "CPU"
        );

        let settings = arena::config::EvaluationSettings {
            execution_provider: "cuda".into(),
            gpus: vec![0, 2],
            ..Default::default()
        };
        config.session = SessionOptions::from_settings(&settings.for_slot(1));
        let lib = "/opt/arena/.cache/onnxruntime-gpu/lib";
        assert_eq!(
            env(&config, &[]),
            [
                ("CUDA_VISIBLE_DEVICES".to_owned(), "2".to_owned()),
                ("LD_LIBRARY_PATH".to_owned(), lib.to_owned()),
            ]
        );
        // A worker already limited to some devices: its ordinal 2 is the third of its list.
        let parent = [
            ("CUDA_VISIBLE_DEVICES", "GPU-a1, GPU-b2, GPU-c3"),
            ("LD_LIBRARY_PATH", "/usr/local/lib"),
        ];
        assert_eq!(
            env(&config, &parent),
            [
                ("CUDA_VISIBLE_DEVICES".to_owned(), "GPU-c3".to_owned()),
                (
                    "LD_LIBRARY_PATH".to_owned(),
                    format!("{lib}:/usr/local/lib")
                ),
            ]
        );
        // The child itself is told device 0: the only one it sees.
        assert_eq!(child_session(&config.session).cuda.device_id, 0);
        assert_eq!(config.session.cuda.device_id, 2);
    }

    #[test]
    fn bin_is_found_where_configured_or_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join(BIN_NAME);
        std::fs::write(&bin, b"").unwrap();
        assert_eq!(find_bin(Some(&bin)).unwrap(), bin);
        let e = find_bin(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }
}
