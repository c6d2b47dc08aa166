"""Who is calling: WeChat users (consultants), H5 buyers (SMS sign-in) and staff."""
