-- Whether an execution ran a revision the approval matrix forbids, on the
-- emergency path's approvals: an audit of forced changes reads it.
ALTER TABLE executions ADD COLUMN emergency BIGINT NOT NULL DEFAULT 0;
