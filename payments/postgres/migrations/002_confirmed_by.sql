-- Which instance ran a charge's confirmation job (either side of a mixed
-- Go + NestJS deployment writes its instance name): the demo's report
-- counts the jobs one side enqueued and the other ran.
ALTER TABLE charges ADD COLUMN confirmed_by text;
