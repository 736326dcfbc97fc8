CREATE TABLE "task_series" (
	"owner" text NOT NULL,
	"span" text NOT NULL,
	"start" timestamp (3) with time zone NOT NULL,
	"status" "task_status" NOT NULL,
	"currency" text NOT NULL,
	"tasks" bigint NOT NULL,
	"cost" double precision NOT NULL,
	"run_hist" bigint[] NOT NULL,
	CONSTRAINT "task_series_owner_span_start_status_currency_pk" PRIMARY KEY("owner","span","start","status","currency")
);
--> statement-breakpoint
CREATE INDEX "task_series_span" ON "task_series" USING btree ("span","start");--> statement-breakpoint
-- task_series: task_history's hours and days summed over providers and models, so that
-- stats.series without a provider or model filter reads a row per period × status × currency
-- (504 for 168 hours) instead of one per provider × model too, and adds no histograms. Kept by
-- statement triggers on task_history: every statement that writes it (a roll-up, the back-fill,
-- of this version or an older one) recomputes the rows of the periods it touched from
-- task_history itself, so the sums cannot drift. Writers of task_history hold the history
-- advisory lock (src/db/roll-up-history.ts), one at a time. Until the rows are filled once
-- (maintenance_done 'task_series', a step after the migrations) the triggers do nothing
-- and series read task_history as before.
CREATE AGGREGATE hist_sum(bigint[]) (SFUNC = hist_add, STYPE = bigint[], INITCOND = '{}');--> statement-breakpoint
-- Recompute the task_series rows of these keys (parallel arrays; 'all' rows are skipped) from
-- task_history: a key that has no history rows any more loses its row.
CREATE FUNCTION task_series_refresh(owners text[], spans text[], starts timestamptz[], statuses task_status[], currencies text[]) RETURNS void
LANGUAGE sql
AS $$
  WITH k AS (
    SELECT DISTINCT * FROM unnest(owners, spans, starts, statuses, currencies) AS k (owner, span, start, status, currency)
    WHERE span IN ('hour', 'day')
  ),
  sums AS (
    SELECT h.owner, h.span, h.start, h.status, h.currency, sum(h.tasks)::bigint AS tasks, sum(h.cost) AS cost, hist_sum(h.run_hist) AS run_hist
    FROM task_history h JOIN k ON (h.owner, h.span, h.start, h.status, h.currency) = (k.owner, k.span, k.start, k.status, k.currency)
    GROUP BY 1, 2, 3, 4, 5
  ),
  gone AS (
    DELETE FROM task_series t USING k
    WHERE (t.owner, t.span, t.start, t.status, t.currency) = (k.owner, k.span, k.start, k.status, k.currency)
      AND NOT EXISTS (SELECT 1 FROM sums s WHERE (s.owner, s.span, s.start, s.status, s.currency) = (k.owner, k.span, k.start, k.status, k.currency))
  )
  INSERT INTO task_series (owner, span, start, status, currency, tasks, cost, run_hist)
  SELECT owner, span, start, status, currency, tasks, cost, run_hist FROM sums ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (owner, span, start, status, currency) DO UPDATE SET tasks = excluded.tasks, cost = excluded.cost, run_hist = excluded.run_hist
$$;--> statement-breakpoint
-- One function for the three triggers: each names its transition tables, and a branch is
-- planned only when it runs (PL/pgSQL keeps a copy of the function per trigger).
CREATE FUNCTION task_series_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o text[]; sp text[]; st timestamptz[]; s task_status[]; c text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM maintenance_done WHERE name = 'task_series') THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(owner), array_agg(span), array_agg(start), array_agg(status), array_agg(currency) INTO o, sp, st, s, c
    FROM (SELECT DISTINCT owner, span, start, status, currency FROM task_history_new WHERE span <> 'all') k;
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT array_agg(owner), array_agg(span), array_agg(start), array_agg(status), array_agg(currency) INTO o, sp, st, s, c
    FROM (SELECT owner, span, start, status, currency FROM task_history_new WHERE span <> 'all'
          UNION SELECT owner, span, start, status, currency FROM task_history_old WHERE span <> 'all') k;
  ELSE
    SELECT array_agg(owner), array_agg(span), array_agg(start), array_agg(status), array_agg(currency) INTO o, sp, st, s, c
    FROM (SELECT DISTINCT owner, span, start, status, currency FROM task_history_old WHERE span <> 'all') k;
  END IF;
  IF o IS NOT NULL THEN PERFORM task_series_refresh(o, sp, st, s, c); END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER task_history_series_insert AFTER INSERT ON task_history
  REFERENCING NEW TABLE AS task_history_new FOR EACH STATEMENT EXECUTE FUNCTION task_series_follow();--> statement-breakpoint
CREATE TRIGGER task_history_series_update AFTER UPDATE ON task_history
  REFERENCING OLD TABLE AS task_history_old NEW TABLE AS task_history_new FOR EACH STATEMENT EXECUTE FUNCTION task_series_follow();--> statement-breakpoint
CREATE TRIGGER task_history_series_delete AFTER DELETE ON task_history
  REFERENCING OLD TABLE AS task_history_old FOR EACH STATEMENT EXECUTE FUNCTION task_series_follow();
