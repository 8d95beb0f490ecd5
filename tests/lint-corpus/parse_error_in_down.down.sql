-- broken down migration
DROPP TABLE feedback;
