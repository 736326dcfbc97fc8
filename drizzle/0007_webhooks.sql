-- Webhooks (issue 9): the outbox (webhook_deliveries), per-key-name settings (key_webhooks) and
-- the task columns a webhook needs. Safe on a running deployment: new tables, nullable columns.
CREATE TABLE "key_webhooks" (
	"name" text PRIMARY KEY NOT NULL,
	"url" text,
	"secret" text,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"task_id" uuid NOT NULL,
	"owner" text NOT NULL,
	"event" text NOT NULL,
	"url" text NOT NULL,
	"task" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"due_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_status" integer,
	"last_error" text,
	"delivered_at" timestamp (3) with time zone,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now()
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "webhook_url" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "webhook_events" text[];--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "request_origin" text;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_task" ON "webhook_deliveries" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE next_attempt_at is not null;--> statement-breakpoint
-- The outbox is written by a trigger in the transaction (the statement) that changes the task, so a
-- committed change always has its delivery stored, whichever code path made it (runner batches,
-- cancel, claims). It fires only for tasks with a webhook (webhook_events set): the runner's writes
-- of every other task pay nothing but the WHEN test.
--   status → PROCESSING: STARTED (once per task, even when a released task starts again);
--   status → COMPLETED / FAILED / CANCELLED: that event, and pending PROGRESS rows are dropped;
--   progress changes while PROCESSING: PROGRESS, coalesced: a pending (never attempted) PROGRESS
--   row takes the newer snapshot, otherwise a new one is due 5 s after the previous one's due time.
-- Only the events listed in webhook_events are stored. `task` is the row as of the event.
CREATE FUNCTION task_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ev text;
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    ev := CASE NEW.status WHEN 'PROCESSING' THEN 'STARTED' WHEN 'COMPLETED' THEN 'COMPLETED' WHEN 'FAILED' THEN 'FAILED' WHEN 'CANCELLED' THEN 'CANCELLED' END;
    IF ev IS NULL OR NOT (ev = ANY (NEW.webhook_events)) THEN
      NULL;
    ELSIF ev = 'STARTED' THEN
      IF NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = NEW.id AND d.event = 'STARTED') THEN
        INSERT INTO webhook_deliveries (task_id, owner, event, url, task) VALUES (NEW.id, NEW.owner, ev, NEW.webhook_url, to_jsonb(NEW));
      END IF;
    ELSE
      INSERT INTO webhook_deliveries (task_id, owner, event, url, task) VALUES (NEW.id, NEW.owner, ev, NEW.webhook_url, to_jsonb(NEW));
    END IF;
    IF NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN
      DELETE FROM webhook_deliveries d WHERE d.task_id = NEW.id AND d.event = 'PROGRESS' AND d.attempts = 0;
    END IF;
  ELSIF NEW.status = 'PROCESSING' AND NEW.progress IS DISTINCT FROM OLD.progress AND 'PROGRESS' = ANY (NEW.webhook_events) THEN
    UPDATE webhook_deliveries d SET task = to_jsonb(NEW), created_at = now()
      WHERE d.task_id = NEW.id AND d.event = 'PROGRESS' AND d.attempts = 0;
    IF NOT FOUND THEN
      INSERT INTO webhook_deliveries (task_id, owner, event, url, task, due_at, next_attempt_at)
      SELECT NEW.id, NEW.owner, 'PROGRESS', NEW.webhook_url, to_jsonb(NEW), due, due
      FROM (SELECT greatest(now(), (SELECT max(d.due_at) + interval '5 seconds' FROM webhook_deliveries d WHERE d.task_id = NEW.id AND d.event = 'PROGRESS')) AS due) s;
    END IF;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tasks_webhook_outbox AFTER UPDATE OF status, progress ON tasks
  FOR EACH ROW WHEN (NEW.webhook_events IS NOT NULL AND (NEW.status IS DISTINCT FROM OLD.status
    OR (NEW.progress IS DISTINCT FROM OLD.progress AND 'PROGRESS' = ANY (NEW.webhook_events))))
  EXECUTE FUNCTION task_webhook_outbox();
