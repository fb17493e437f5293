-- Counter search by kana prefix (kakunin member find --kana, the console's /members?q=): the
-- reading without spaces, byte-wise, so that LIKE 'prefix%' is an index range and the first
-- page comes in order without sorting every match.
CREATE INDEX member_kana ON member
    (insurer_number, ((coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C"), member_id);
