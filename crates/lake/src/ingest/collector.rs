//! The collector: rows routed to their partitions, deduplicated, and held until a commit.

use super::*;

pub(super) fn day_string(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let date = chrono::DateTime::from_timestamp(days * 86_400, 0)
        .expect("day in range")
        .date_naive();
    date.format("%Y-%m-%d").to_string()
}

impl Collector<'_> {
    /// Routes rows of object `i` and counts them for it and for the run.
    pub(super) fn accept_part(&mut self, i: usize, batch: RecordBatch) -> Result<(), LakeError> {
        let (s, d, c) = self.route(batch)?;
        let open = self.open.entry(i).or_default();
        open.0 += s;
        open.1 += d;
        open.2 += c;
        self.summary.events_stored += s;
        self.summary.duplicates_dropped += d;
        self.summary.conflicts += c;
        Ok(())
    }

    pub(super) fn accept(
        &mut self,
        i: usize,
        obj: &SourceObject,
        res: Result<ObjectOutput, IngestError>,
    ) -> Result<u64, LakeError> {
        self.summary.objects_read += 1;
        self.summary.bytes_read += obj.size;
        let out = match res {
            Ok(out) => out,
            Err(e) => {
                if self.opts.strict {
                    return Err(LakeError::Strict { source: e });
                }
                let reason = e.to_string();
                tracing::warn!("{reason}");
                self.summary.quarantined.push(Quarantined {
                    path: obj.uri.clone(),
                    reason: reason.clone(),
                });
                self.quarantined.push(QuarantineEntry {
                    uri: obj.uri.clone(),
                    size: obj.size,
                    mtime_ns: obj.mtime_ns,
                    etag: obj.etag.clone(),
                    reason,
                });
                // Rows it streamed before the fault are stored.
                return Ok(self.open.remove(&i).map_or(0, |(stored, _, _)| stored));
            }
        };
        if self.opts.strict
            && let Some(bad) = out.bad_records.first()
        {
            return Err(LakeError::StrictRecord {
                record: bad.describe(&obj.uri),
            });
        }
        self.summary.json_bytes += out.json_bytes;
        self.summary.outside_window += out.outside_window as u64;
        self.summary.insights += out.insights as u64;
        self.summary.digests += out.digests.len() as u64;
        let bad_records = out.bad_records.len() + out.bad_records_beyond;
        self.summary.bad_records += bad_records as u64;
        for w in &out.warnings {
            tracing::warn!("{w}");
        }
        self.summary.warnings.extend(out.warnings);
        if let Some(first) = out.bad_records.first() {
            tracing::warn!(
                "{bad_records} bad records quarantined, the first: {}",
                first.describe(&obj.uri)
            );
        }
        for bad in &out.bad_records {
            self.bad_lines.push(
                serde_json::json!({"uri": obj.uri, "index": bad.index, "reason": bad.describe(&obj.uri), "raw": bad.raw}).to_string(),
            );
        }
        if out.bad_records_beyond > 0 {
            // Counted, not copied: the source object holds them.
            let reason = format!(
                "{}: {} more bad records after these are not copied here (the quarantine keeps {} records or {} MiB of each object); they are in the source object",
                obj.uri,
                out.bad_records_beyond,
                trawl_ingest::MAX_KEPT_BAD_RECORDS,
                trawl_ingest::MAX_KEPT_BAD_BYTES >> 20
            );
            tracing::warn!("{reason}");
            self.bad_lines.push(
                serde_json::json!({"uri": obj.uri, "more": out.bad_records_beyond, "reason": reason}).to_string(),
            );
        }
        for d in &out.digests {
            // The digest as parsed, the SHA-256 of the file's bytes (signed by CloudTrail,
            // and named by the next digest of the chain) and the signature from S3's metadata.
            let signature = out.signature.as_ref();
            self.digest_lines.push(
                serde_json::json!({
                    "uri": obj.uri,
                    "sha256": out.sha256,
                    "signature": signature.map(|s| &s.signature),
                    "signature_algorithm": signature.and_then(|s| s.algorithm.as_ref()),
                    "backfill_generated": signature.and_then(|s| s.backfill_generated.as_ref()),
                    "digest": serde_json::from_str::<serde_json::Value>(d)
                        .unwrap_or_else(|_| serde_json::Value::String(d.clone())),
                })
                .to_string(),
            );
        }
        for batch in out.batches {
            self.accept_part(i, batch)?;
        }
        // With the rows it streamed before this, routed and counted as they came.
        let (stored, duplicates, conflicts) = self.open.remove(&i).unwrap_or_default();
        self.sources.push(
            SourceEntry {
                uri: obj.uri.clone(),
                size: obj.size,
                mtime_ns: obj.mtime_ns,
                events: stored,
                duplicates,
                conflicts,
                outside_window: out.outside_window as u64,
                digests: out.digests.len() as u64,
                bad_records: out.bad_records.len() as u64,
                since_us: None,
                until_us: None,
                etag: obj.etag.clone(),
                sha256: out.sha256.clone(),
            }
            .read_with(&self.opts.read.window),
        );
        Ok(stored)
    }

    /// Dedups a batch and splits it by partition. Returns (stored, duplicates, conflicts).
    pub(super) fn route(&mut self, batch: RecordBatch) -> Result<(u64, u64, u64), LakeError> {
        let ts = batch
            .column_by_name(COL_EVENTTIME_TS)
            .expect("eventtime_ts")
            .as_primitive::<TimestampMicrosecondType>();
        let (ids, hashes) = writer::ids_and_hashes(&batch);
        // Group rows by event day first (None: time did not parse), then dedup each group
        // against its partition's index, looked up once per group.
        let mut by_day: BTreeMap<Option<i64>, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let day = ts
                .is_valid(row)
                .then(|| ts.value(row).div_euclid(86_400_000_000));
            by_day.entry(day).or_default().push(row as u32);
        }
        let (mut dups, mut conflicts) = (0u64, 0u64);
        let mut groups: Vec<(String, Vec<u32>)> = Vec::with_capacity(by_day.len());
        for (day, rows) in by_day {
            let dt = day.map_or_else(
                || UNKNOWN_PARTITION.to_string(),
                |d| day_string(d * 86_400_000_000),
            );
            // Rows without an eventID are kept as they are.
            let with_id = rows.iter().filter(|&&r| ids.is_valid(r as usize));
            let verdicts = self.dedup.check(
                &dt,
                with_id.map(|&r| (ids.value(r as usize), hashes.value(r as usize))),
            )?;
            let mut verdicts = verdicts.into_iter();
            let kept: Vec<u32> = rows
                .into_iter()
                .filter(|&row| {
                    if !ids.is_valid(row as usize) {
                        return true;
                    }
                    match verdicts.next().expect("a verdict per row with an eventID") {
                        Verdict::Duplicate => {
                            dups += 1;
                            false
                        }
                        Verdict::Conflict => {
                            conflicts += 1;
                            true
                        }
                        Verdict::New => true,
                    }
                })
                .collect();
            if !kept.is_empty() {
                groups.push((dt, kept));
            }
        }
        let mut stored = 0;
        for (dt, rows) in groups {
            stored += rows.len() as u64;
            let part = if rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|source| {
                    LakeError::Arrow {
                        path: self.lake.layout().partition(&dt),
                        source,
                    }
                })?
            };
            self.keep(dt, part)?;
        }
        Ok((stored, dups, conflicts))
    }

    /// Buffers the rows of a partition for the next commit. A batch of a few rows from a
    /// small object holds Arrow buffers sized for a thousand (a 2-event object, ~300 KB) and
    /// a few hundred bytes of bookkeeping per column: such batches are copied together, up
    /// to [`COALESCE_BATCHES`] or [`COALESCE_HELD_BYTES`] at a time, so that memory, and the
    /// commits it triggers, follow the data, not the number of objects. Until then they
    /// count for the bytes their rows take.
    pub(super) fn keep(&mut self, dt: String, part: RecordBatch) -> Result<(), LakeError> {
        let held = part.get_array_memory_size();
        if part.num_rows() < SMALL_ROWS {
            let used = part
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size())
                .sum::<Result<usize, _>>()
                .map_err(|source| LakeError::Arrow {
                    path: self.lake.layout().partition(&dt),
                    source,
                })?;
            if held > 2 * used {
                self.pending_bytes += used;
                let small = self.small.entry(dt.clone()).or_default();
                small.batches.push(part);
                small.used += used;
                small.held += held;
                if small.batches.len() >= COALESCE_BATCHES || small.held >= COALESCE_HELD_BYTES {
                    let small = self.small.remove(&dt).expect("just added");
                    self.coalesce(dt, small)?;
                }
                return Ok(());
            }
        }
        self.pending_bytes += held;
        self.pending.entry(dt).or_default().push(part);
        Ok(())
    }

    /// Copies small batches of a partition into one.
    pub(super) fn coalesce(&mut self, dt: String, small: Small) -> Result<(), LakeError> {
        let Small { batches, used, .. } = small;
        let one =
            concat_batches(&batches[0].schema(), &batches).map_err(|source| LakeError::Arrow {
                path: self.lake.layout().partition(&dt),
                source,
            })?;
        drop(batches);
        self.pending_bytes = self.pending_bytes - used + one.get_array_memory_size();
        self.pending.entry(dt).or_default().push(one);
        Ok(())
    }

    /// Hands what is pending to the writer thread as the next commit. At most
    /// `max_in_flight` commits are in flight: this first waits for the oldest if needed.
    pub(super) fn flush(
        &mut self,
        jobs: &Sender<CommitJob>,
        done: &Receiver<Result<Committed, LakeError>>,
    ) -> Result<(), LakeError> {
        while self.in_flight >= self.max_in_flight {
            self.wait(done)?;
        }
        for (dt, small) in std::mem::take(&mut self.small) {
            self.coalesce(dt, small)?;
        }
        if self.pending.is_empty() && self.sources.is_empty() && self.quarantined.is_empty() {
            return Ok(());
        }
        let version = self.version + 1;
        let pending = std::mem::take(&mut self.pending);
        // The pending rows were checked while the dedup knew the lake up to `pending_known`;
        // the next ones are checked with what it knows now.
        let checked_upto = std::mem::replace(&mut self.pending_known, self.known);
        let job = CommitJob {
            version,
            checked_upto,
            pending,
            sources: std::mem::take(&mut self.sources),
            quarantined: std::mem::take(&mut self.quarantined),
            bad_lines: std::mem::take(&mut self.bad_lines),
            digest_lines: std::mem::take(&mut self.digest_lines),
        };
        self.version = version;
        self.pending_bytes = 0;
        self.dedup.epoch += 1;
        jobs.send(job).map_err(|_| LakeError::WriterGone)?;
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for every commit in flight.
    pub(super) fn wait_all(
        &mut self,
        done: &Receiver<Result<Committed, LakeError>>,
    ) -> Result<(), LakeError> {
        while self.in_flight > 0 {
            self.wait(done)?;
        }
        Ok(())
    }

    /// Waits for the oldest commit in flight, if any (they finish in order).
    pub(super) fn wait(
        &mut self,
        done: &Receiver<Result<Committed, LakeError>>,
    ) -> Result<(), LakeError> {
        if self.in_flight == 0 {
            return Ok(());
        }
        self.in_flight -= 1;
        let started = Instant::now();
        let committed = done.recv().map_err(|_| LakeError::WriterGone)??;
        self.waited += started.elapsed();
        self.summary.files_written += committed.files;
        self.summary.manifest_seconds += committed.manifest_time.as_secs_f64();
        self.summary.commits += 1;
        self.summary.lake_version = committed.version;
        self.summary.commit_retries += u64::from(committed.retries);
        // The commit's own index files (a partition may have been split into several): the
        // partitions they belong to stay loaded until now, so they are read from these files
        // only after this acknowledgement.
        for f in &committed.added {
            self.dedup.add_file(&f.dt, self.lake.root().join(&f.index));
        }
        self.summary.events_stored -= committed.dropped.min(self.summary.events_stored);
        self.summary.duplicates_dropped += committed.dropped;
        for f in &committed.others {
            self.dedup.learn(&f.dt, self.lake.root().join(&f.index))?;
        }
        self.known = self.known.max(committed.version);
        self.dedup.acked = committed.epoch;
        self.dedup.evict();
        Ok(())
    }
}
