use super::atomic::*;
use super::lock::*;
use super::mark::*;
use super::output_folder::*;
use super::paths::*;
use std::path::Path;

/// `count` threads released together, each running `work`: as runs started at one instant.
fn all_at_once<T: Send + 'static>(count: usize, work: impl Fn() -> T + Send + Sync + 'static) -> Vec<T> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(count));
    let work = std::sync::Arc::new(work);
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (start, work) = (start.clone(), work.clone());
            std::thread::spawn(move || {
                start.wait();
                work()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_path_through_parent_folders_is_tidied_only_where_it_names_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("runs/seed-0")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/x.csv"), "date,A\n").unwrap();
    let long = root.join("runs/seed-0/../../data/./x.csv");
    assert_eq!(tidy(&long), root.join("data/x.csv"));
    // Through a link, `..` is the link target's parent: the lexical answer would be wrong.
    std::fs::create_dir_all(root.join("elsewhere/deep")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere/data")).unwrap();
    std::fs::write(root.join("elsewhere/data/x.csv"), "date,B\n").unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere/deep"), root.join("link")).unwrap();
    let through = root.join("link/../data/x.csv");
    assert_eq!(tidy(&through), through, "it names elsewhere/data/x.csv, not data/x.csv");
    let missing = root.join("runs/../nothing.csv");
    assert_eq!(tidy(&missing), missing, "a path that names no file is left as given");
}

#[test]
fn default_folders_taken_at_one_instant_are_all_different() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("checkpoints/run");
    let reserved = all_at_once(8, move || reserve_fresh_folder(&base).unwrap());
    let distinct: std::collections::BTreeSet<_> = reserved.iter().collect();
    assert_eq!(distinct.len(), 8, "{reserved:?}");
    assert!(reserved.iter().all(|path| path.is_dir()));
}

#[test]
fn fresh_claims_made_at_one_instant_all_succeed_in_different_folders() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("walk-forward");
    // Each claim is kept until all are made, as runs that are still working.
    let claims = all_at_once(4, move || OutputFolder::fresh(&base));
    let paths: std::collections::BTreeSet<_> = claims
        .iter()
        .map(|claim| claim.as_ref().map(|c| c.path().to_path_buf()))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(paths.len(), 4, "{paths:?}");
    // Runs that fail before writing leave none of the folders their claims made.
    drop(claims);
    assert!(paths.iter().all(|path| !path.exists()), "{paths:?}");
}

/// What a folio command writes, as a file of its own (noted as this process's).
fn output(path: &Path, text: &str) {
    write_bytes_atomically(path, text.as_bytes()).unwrap();
}

/// A file a user puts into a command's folder, before or while it runs or after it
/// finished, stops `--force` from deleting it with folio's outputs; a picture folio adds
/// later, in the folder or a folder inside it, is folio's, and does not.
#[test]
fn force_replaces_a_folder_of_outputs_but_never_a_file_a_user_added() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("report.json"), "{}");
    std::fs::write(out.join("while-it-ran.txt"), "mine").unwrap();
    output(&out.join("fold-1/result.cbor"), "r");
    claim.finish();
    // Drawn by another process (`folio plot`), which records it.
    for picture in ["walk_forward.png", "fold-1/training.png"] {
        std::fs::write(out.join(picture), "png").unwrap();
        record_output(&out.join(picture)).unwrap();
    }
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let refused = OutputFolder::claim(&out, true).err().unwrap().to_string();
    assert!(refused.contains("did not write (notes.txt, while-it-ran.txt)"), "{refused}");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    std::fs::remove_file(out.join("while-it-ran.txt")).unwrap();
    let replacing = OutputFolder::claim(&out, true).unwrap();
    assert!(replacing.replaces_earlier_outputs());
    replacing.finish();
    assert!(!out.join("report.json").exists(), "folio's outputs were replaced");
}

/// `--resume` continues only a folder that a folio command marked: a folder of a user's own
/// files is refused and left as it was, mark-free. Reopened, a finished folder keeps what a
/// user had added out of its outputs, whether the resumed run finishes or is stopped
/// outright.
#[test]
fn a_resume_reopens_only_folios_folders_and_never_adopts_a_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let research = dir.path().join("research");
    std::fs::create_dir(&research).unwrap();
    std::fs::write(research.join("notes.txt"), "mine").unwrap();
    let refused = OutputFolder::reopen(&research).unwrap_err().to_string();
    assert!(refused.contains("no folio command marked") && refused.contains("notes.txt"), "{refused}");
    assert!(!research.join(OUTPUT_MARK).exists() && !research.join(LOCK_FILE).exists());

    let out = dir.path().join("run");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("report.json"), "{}");
    claim.finish();
    std::fs::write(out.join("NOTES.md"), "mine").unwrap();
    // Stopped outright while it resumes: its new outputs are its own, the notes are not.
    let stopped = OutputFolder::reopen(&out).unwrap();
    output(&out.join("fold-2/result.cbor"), "r");
    drop(stopped);
    assert_eq!(unlisted_files(&out), vec!["NOTES.md".to_string()]);
    let reopened = OutputFolder::reopen(&out).unwrap();
    output(&out.join("summary.md"), "#");
    reopened.finish();
    let refused = OutputFolder::claim(&out, true).unwrap_err().to_string();
    assert!(refused.contains("did not write (NOTES.md)"), "{refused}");
}

/// A run killed outright lists nothing, but the journal its mark kept names what it wrote: a
/// file a user adds before the resume stays theirs, through a second kill, and stops a later
/// `--force`; the lock and temporary files a killed run leaves are not a user's, nor a picture
/// drawn into its folder before the resume. An older
/// folio's mark, without a journal, still takes all but the files it names for the run's.
#[test]
fn a_run_killed_outright_is_known_by_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wf");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("fold-1/result.cbor"), "r");
    output(&out.join("walk-forward.id"), "id");
    // A claim dropped unfinished lists nothing: what a process killed outright leaves.
    drop(claim);
    std::fs::write(out.join("NOTES.md"), "mine").unwrap();
    // A user may name a file like a header of the mark: it is still a name in the list.
    let like_a_header = JOURNAL_HEADER.trim_end().to_string();
    let like_a_list = LIST_HEADER.trim_end().to_string();
    for name in [&like_a_header, &like_a_list] {
        std::fs::write(out.join(name), "mine").unwrap();
    }
    std::fs::write(out.join("fold-1").join(LOCK_FILE), "").unwrap();
    std::fs::write(out.join("fold-1/.seed-0.cbor.a1B2c3.folio-tmp"), "half").unwrap();
    // Drawn into the killed run's folder by another process (`folio plot`), which records it.
    std::fs::write(out.join("fold-1/training.png"), "png").unwrap();
    record_output(&out.join("fold-1/training.png")).unwrap();
    let users = vec![like_a_list.clone(), like_a_header.clone(), "NOTES.md".to_string()];
    assert_eq!(unlisted_files(&out), users);

    let killed_again = OutputFolder::reopen(&out).unwrap();
    output(&out.join("fold-2/result.cbor"), "r");
    drop(killed_again);
    assert_eq!(unlisted_files(&out), users);
    for name in [&like_a_header, &like_a_list] {
        std::fs::remove_file(out.join(name)).unwrap();
    }
    let resumed = OutputFolder::reopen(&out).unwrap();
    output(&out.join("report.json"), "{}");
    resumed.finish();
    let refused = OutputFolder::claim(&out, true).unwrap_err().to_string();
    assert!(refused.contains("did not write (NOTES.md)"), "{refused}");
    assert_eq!(std::fs::read_to_string(out.join("NOTES.md")).unwrap(), "mine");
    let mark = std::fs::read_to_string(out.join(OUTPUT_MARK)).unwrap();
    for output in
        ["fold-1/result.cbor", "fold-1/training.png", "fold-2/result.cbor", "report.json", "walk-forward.id"]
    {
        assert!(mark.lines().any(|line| line == output), "{output} is listed: {mark}");
    }

    let older = dir.path().join("older");
    std::fs::create_dir(&older).unwrap();
    std::fs::write(older.join("result.cbor"), "r").unwrap();
    std::fs::write(older.join("notes.txt"), "mine").unwrap();
    std::fs::write(older.join(OUTPUT_MARK), format!("{MARK_NOTE}{USERS_HEADER}notes.txt\n")).unwrap();
    assert_eq!(unlisted_files(&older), vec!["notes.txt".to_string()]);
}

/// A run killed between writing an output and renaming it into place leaves the temporary copy.
/// Its resume removes it, so that it is neither left behind nor listed among the outputs, and
/// leaves alone a user's temporary file, one written moments ago (a live writer's, as `plot`'s,
/// which takes no lock), and one in a folder inside that another command marked.
#[test]
fn a_resume_removes_the_temporary_copy_a_killed_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir(&out).unwrap();
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("report.json"), "{}");
    let left = [".summary.md.r0e9cR.folio-tmp", "fold-1/.result.cbor.8vX8zT.folio-tmp"];
    let kept = [".plot.png.Fresh1.folio-tmp", "stress/.report.json.Inner1.folio-tmp"];
    output(&out.join("stress").join(OUTPUT_MARK), "");
    for file in left.iter().chain(&kept) {
        output(&out.join(file).with_file_name("placeholder"), "");
        std::fs::write(out.join(file), "half").unwrap();
    }
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for file in [left[0], left[1], kept[1]] {
        std::fs::File::options().write(true).open(out.join(file)).unwrap().set_modified(long_ago).unwrap();
    }
    drop(claim);
    std::fs::write(out.join(".notes.Draft1.tmp"), "mine").unwrap();
    let reopened = OutputFolder::reopen(&out).unwrap();
    for file in left {
        assert!(!out.join(file).exists(), "{file} is gone");
    }
    for file in kept {
        assert!(out.join(file).exists(), "{file} is kept");
    }
    reopened.finish();
    assert_eq!(std::fs::read_to_string(out.join(".notes.Draft1.tmp")).unwrap(), "mine");
    assert!(out.join("report.json").exists());
    assert!(is_temporary_name(".report.json.a1B2c3.folio-tmp"));
    assert!(
        !is_temporary_name(".report.json.folio-tmp") && !is_temporary_name("report.json.a1B2c3.folio-tmp")
    );
}

/// A `--resume` that fails (refused by its command, say) leaves the finished folder's list as
/// it was, with anything it wrote added: a file a user adds afterwards is still theirs.
#[test]
fn a_failed_resume_keeps_the_folders_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("report.json"), "{}");
    claim.finish();
    let refused = OutputFolder::reopen(&out).unwrap();
    output(&out.join("fold-1/result.cbor"), "r");
    drop(refused);
    std::fs::write(out.join("later.txt"), "mine").unwrap();
    assert!(finished_outputs(&out));
    assert_eq!(unlisted_files(&out), vec!["later.txt".to_string()]);
}

/// Subfolders are checked file by file: a user's file inside one stops `--force`; a later
/// folio command's folder inside is named once, as such, while a folder the same command
/// claimed inside (an eval's `ensemble/`) has its files named. An older folio's list, which
/// named only the top of the folder, still covers all below each name.
#[test]
fn force_sees_a_users_file_anywhere_in_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wf");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("fold-1/seed-0/best.bpk"), "net");
    let own = OutputFolder::claim(&out.join("ensemble"), false).unwrap();
    output(&out.join("ensemble/report.json"), "{}");
    own.finish();
    claim.finish();
    std::fs::write(out.join("fold-1/seed-0/analysis.ipynb"), "mine").unwrap();
    std::fs::write(out.join("ensemble/note.txt"), "mine").unwrap();
    let later = OutputFolder::claim(&out.join("stress"), false).unwrap();
    output(&out.join("stress/stress.json"), "{}");
    later.finish();
    let refused = OutputFolder::claim(&out, true).unwrap_err().to_string();
    assert!(refused.contains("fold-1/seed-0/analysis.ipynb"), "{refused}");
    assert!(refused.contains("ensemble/note.txt"), "{refused}");
    assert!(refused.contains("stress/ (a later folio command's outputs)"), "{refused}");
    assert!(out.join("fold-1/seed-0/analysis.ipynb").exists());

    std::fs::remove_file(out.join("fold-1/seed-0/analysis.ipynb")).unwrap();
    std::fs::remove_dir_all(out.join("stress")).unwrap();
    std::fs::remove_dir_all(out.join("ensemble")).unwrap();
    std::fs::write(out.join(OUTPUT_MARK), format!("{MARK_NOTE}{TOP_LEVEL_HEADER}fold-1\n")).unwrap();
    std::fs::write(out.join("fold-1/seed-0/last.bpk"), "net").unwrap();
    OutputFolder::claim(&out, true).unwrap().finish();
    assert!(!out.join("fold-1").exists(), "an older folio's outputs were replaced");
}

/// An older folio's stopped list, written at the signal: what the run wrote in the moment around
/// it is its own; a file changed well before (a user's, added while it ran) or well after (added
/// since) is a user's. The moment is the one the list records: a picture recorded in it since
/// (which rewrites the mark) does not move it.
#[test]
fn a_stopped_runs_last_writes_are_its_own_and_later_files_a_users() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wf");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("report.json"), "{}").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let stamp = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let list = format!("{MARK_NOTE}{INTERRUPTED_HEADER}{STOPPED_AT}{stamp}\nreport.json\n");
    std::fs::write(out.join(OUTPUT_MARK), list).unwrap();
    std::fs::write(out.join("best.bpk.pending"), "net").unwrap();
    assert_eq!(unlisted_files(&out), Vec::<String>::new());
    let mark = out.join(OUTPUT_MARK);
    let stopped_at = |when: std::time::SystemTime| {
        let text = std::fs::read_to_string(&mark).unwrap();
        let (before, after) = text.split_once(STOPPED_AT).unwrap();
        let since = when.duration_since(std::time::UNIX_EPOCH).unwrap();
        let rest = after.split_once('\n').unwrap().1;
        let stamp = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        std::fs::write(&mark, format!("{before}{STOPPED_AT}{stamp}\n{rest}")).unwrap();
    };
    stopped_at(std::time::SystemTime::now() - 10 * LAST_WRITES);
    std::fs::write(out.join("plot.png"), "png").unwrap();
    record_output(&out.join("plot.png")).unwrap();
    assert_eq!(unlisted_files(&out), vec!["best.bpk.pending".to_string()], "long after the list");
    stopped_at(std::time::SystemTime::now() + 10 * LAST_WRITES);
    assert_eq!(unlisted_files(&out), vec!["best.bpk.pending".to_string()], "long before the list");
}

/// A stopped run's claim: a folder it made and wrote nothing in goes, so a default name is
/// not used up; in one it wrote in, its journal names what it wrote, with what it writes in the
/// moment after the signal, and never a user's file, however close to the signal it was added.
#[test]
fn a_stopped_run_leaves_no_empty_folder_and_its_journal_names_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("eval");
    let empty = OutputFolder::fresh(&base).unwrap();
    settle_interrupted(&Claimed::new(empty.path(), true));
    assert!(!empty.path().exists());
    drop(empty);

    let out = dir.path().join("wf");
    std::fs::create_dir(&out).unwrap();
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("fold-1/result.cbor"), "r");
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    settle_interrupted(&Claimed::new(&out, false));
    output(&out.join("fold-2/seed-0.result.cbor"), "written as the process ended");
    std::fs::write(out.join("fold-2/mine.txt"), "mine").unwrap();
    assert_eq!(unlisted_files(&out), vec!["fold-2/mine.txt".to_string(), "notes.txt".to_string()]);
    assert!(!out.join(LOCK_FILE).exists());
    drop(claim);
}

/// Two runs racing for one `--out`: the finished outputs of the one that took the folder are
/// never deleted to put back what the other set aside.
#[test]
fn finished_outputs_are_never_deleted_to_put_back_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ev");
    let claim = OutputFolder::claim(&out, false).unwrap();
    output(&out.join("report.json"), "newer");
    claim.finish();
    let aside = dir.path().join(".ev.replaced-4242");
    std::fs::create_dir(&aside).unwrap();
    std::fs::write(aside.join("report.json"), "older").unwrap();
    let refused = OutputFolder::claim(&out, false).unwrap_err().to_string();
    assert!(refused.contains("already holds outputs") && !refused.contains("put back"), "{refused}");
    assert_eq!(std::fs::read_to_string(out.join("report.json")).unwrap(), "newer");
}

#[cfg(unix)]
#[test]
fn a_link_stays_a_link_and_what_it_names_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.jsonl");
    std::fs::write(&shared, "a\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    write_bytes_atomically(&link, b"b\n").unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&shared).unwrap(), "b\n");
    // A relative link to a file not written yet gets the file, and stays a link.
    std::fs::create_dir(dir.path().join("team")).unwrap();
    let early = dir.path().join("early.jsonl");
    std::os::unix::fs::symlink("team/trials.jsonl", &early).unwrap();
    write_bytes_atomically(&early, b"c\n").unwrap();
    assert!(std::fs::symlink_metadata(&early).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(dir.path().join("team/trials.jsonl")).unwrap(), "c\n");
    // An output folder reached through a link is claimed where it is.
    let (real, linked) = (dir.path().join("real"), dir.path().join("out"));
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &linked).unwrap();
    OutputFolder::claim(&linked, false).unwrap().finish();
    assert!(real.join(OUTPUT_MARK).is_file());
    assert!(std::fs::symlink_metadata(&linked).unwrap().file_type().is_symlink());
}

/// A released lock takes its file away, but only its own: where the folder's lock file is
/// another lock's by then, that one stays, and still excludes other runs.
#[test]
fn a_released_lock_takes_away_its_own_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(LOCK_FILE);
    FolderLock::acquire(dir.path()).unwrap().release();
    assert!(!file.exists());
    let first = FolderLock::acquire(dir.path()).unwrap();
    std::fs::remove_file(&file).unwrap();
    let second = FolderLock::acquire(dir.path()).unwrap();
    first.release();
    assert!(file.exists(), "the second lock's file stays");
    std::thread::spawn({
        let dir = dir.path().to_path_buf();
        // Another thread's try is this process's too: only its retries end, as another run's would.
        move || assert!(matches!(FolderLock::acquire(&dir), Err(LockError::Busy { .. })))
    })
    .join()
    .unwrap();
    second.release();
    assert!(!file.exists());
}

#[test]
fn a_lock_of_this_process_released_a_moment_later_is_taken_and_one_kept_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let held = FolderLock::acquire(dir.path()).unwrap();
    // As a child forked by another thread holds this process's lock until it execs.
    let release = std::thread::spawn(move || {
        // Far inside the half second of retries, so a slow scheduler cannot fail the test.
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(held);
    });
    let taken = FolderLock::acquire(dir.path());
    release.join().unwrap();
    assert!(taken.is_ok(), "{:?}", taken.err());
    let Err(error) = FolderLock::acquire(dir.path()) else { panic!("a lock kept is busy") };
    assert!(matches!(error, LockError::Busy { .. }), "{error}");
}
