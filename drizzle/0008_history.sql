CREATE TABLE "task_history" (
	"owner" text NOT NULL,
	"span" text NOT NULL,
	"start" timestamp (3) with time zone NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"status" "task_status" NOT NULL,
	"currency" text NOT NULL,
	"tasks" bigint NOT NULL,
	"cost" double precision NOT NULL,
	"run_ms" bigint NOT NULL,
	"run_hist" bigint[] NOT NULL,
	"queue_hist" bigint[] NOT NULL,
	CONSTRAINT "task_history_owner_span_start_provider_id_model_status_currency_pk" PRIMARY KEY("owner","span","start","provider_id","model","status","currency")
);
--> statement-breakpoint
CREATE TABLE "task_history_deltas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"owner" text NOT NULL,
	"provider_id" text NOT NULL,
	"model" text NOT NULL,
	"status" "task_status" NOT NULL,
	"currency" text NOT NULL,
	"finished_at" timestamp (3) with time zone NOT NULL,
	"cost" double precision NOT NULL,
	"run_ms" bigint,
	"queue_ms" bigint
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "max_spend_per_day" double precision;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "cost_amount" double precision;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "cost_currency" text;--> statement-breakpoint
CREATE INDEX "task_history_span" ON "task_history" USING btree ("span","start");--> statement-breakpoint
CREATE INDEX "task_history_deltas_owner" ON "task_history_deltas" USING btree ("owner","finished_at");--> statement-breakpoint
-- History of finished tasks (task_history), for percentiles, costs and series.
-- A task's terminal transition (and a task inserted already finished) appends
-- one task_history_deltas row with what it was: nothing shared is updated, so
-- concurrent completions never wait for each other. src/db/roll-up-history.ts
-- folds the deltas into task_history per hour, per day and in total, and
-- back-fills the tasks that finished before this migration. Deleting a task
-- leaves its history (there is no delete trigger), and so does TRUNCATE.
--
-- Histograms: bigint[] of counts per log-scale bucket of milliseconds
-- (1-based): bucket 1 holds [0, 100 ms), bucket k >= 2 holds
-- [100 * 1.1^(k-2), 100 * 1.1^(k-1)) ms, the last one (200) everything above.
-- Arrays grow only as far as their largest bucket. src/db/histogram.ts reads them.
CREATE FUNCTION hist_bucket(ms bigint) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN ms IS NULL THEN NULL WHEN ms < 100 THEN 1 ELSE least(200, 2 + floor(ln(ms::float8 / 100) / ln(1.1::float8))::int) END $$;--> statement-breakpoint
-- The histogram with n[i] values in bucket b[i] (buckets may repeat); '{}' for none.
-- Called once per group (after a GROUP BY bucket), never per task.
CREATE FUNCTION hist_from(b int[], n bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
  h bigint[];
  top int;
BEGIN
  IF b IS NULL OR coalesce(array_length(b, 1), 0) = 0 THEN RETURN '{}'; END IF;
  SELECT max(x) INTO top FROM unnest(b) AS x;
  h := array_fill(0::bigint, ARRAY[top]);
  FOR i IN 1 .. array_length(b, 1) LOOP
    h[b[i]] := h[b[i]] + n[i];
  END LOOP;
  RETURN h;
END $$;--> statement-breakpoint
CREATE FUNCTION hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY n), '{}') FROM unnest(a, b) WITH ORDINALITY AS u(x, y, n) $$;--> statement-breakpoint
CREATE FUNCTION task_queue_ms(created_at timestamptz, started_at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN started_at IS NOT NULL THEN greatest(0, round(extract(epoch FROM started_at - created_at) * 1000))::bigint END $$;--> statement-breakpoint
CREATE FUNCTION task_history_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_history_deltas (owner, provider_id, model, status, currency, finished_at, cost, run_ms, queue_ms)
  VALUES (NEW.owner, NEW.provider_id, coalesce(NEW.model, ''), NEW.status, coalesce(NEW.cost_currency, ''), coalesce(NEW.completed_at, now()),
    coalesce(NEW.cost_amount, 0), task_duration_ms(NEW.status, NEW.created_at, NEW.started_at, NEW.completed_at), task_queue_ms(NEW.created_at, NEW.started_at));
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_history_finish AFTER UPDATE OF status ON tasks
  FOR EACH ROW WHEN (NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND OLD.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED'))
  EXECUTE FUNCTION task_history_finished();--> statement-breakpoint
-- A row inserted already final (a restore, a copy): the same delta. Row-level with a WHEN, so
-- ordinary creates (QUEUED) neither call a function nor capture a transition table.
CREATE TRIGGER tasks_history_insert AFTER INSERT ON tasks
  FOR EACH ROW WHEN (NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED'))
  EXECUTE FUNCTION task_history_finished();
