-- The insurer's name as its parameter file gives it (insurer_name, SPEC.md 2.6): printed on
-- certificates and notices as 保険者名称. Each run records the name it ran with.
ALTER TABLE insurer ADD COLUMN insurer_name text;
