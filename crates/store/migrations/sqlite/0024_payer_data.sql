-- Who is expected to pay an invoice, when the receiver says (a name, its kind, country
-- and year of birth): screened against the lists and the watchlist when the payment
-- arrives; a match holds the money in suspense for a compliance review.
ALTER TABLE invoices ADD COLUMN payer_name TEXT;
ALTER TABLE invoices ADD COLUMN payer_kind TEXT;
ALTER TABLE invoices ADD COLUMN payer_country TEXT;
ALTER TABLE invoices ADD COLUMN payer_birth_year BIGINT;
