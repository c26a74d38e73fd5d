#!/usr/bin/perl
# Prints the privileges and built-in roles of a pve-access-control
# src/PVE/AccessControl.pm, the way create_roles() computes them:
#   git -C pve-access-control show COMMIT:src/PVE/AccessControl.pm > AC.pm
#   perl roles.pl AC.pm
# roles.go holds its output for 8.2.2 (25dd375) and 9.1.1 (5ccd07d).
use strict; use warnings; no warnings "once";
my ($file) = @ARGV;
open my $fh, '<', $file or die; local $/; my $src = <$fh>;
my ($pg) = $src =~ /(my \$privgroups = \{.*?\n\};)/s or die "no privgroups";
my ($sr) = $src =~ /(my \$special_roles = \{.*?\n\};)/s or die "no special_roles";
my $valid_privs = {};
my $privgroups; my $special_roles;
eval "$pg; \$main::pg = \$privgroups; $sr; \$main::sr = \$special_roles; 1" or die $@;
$privgroups = $main::pg; $special_roles = $main::sr;
for my $cat (keys %$privgroups) {
  my $cd = $privgroups->{$cat};
  for my $priv (@{$cd->{root}}, @{$cd->{admin}}, @{$cd->{user}}, @{$cd->{audit}}) { $valid_privs->{$priv} = 1; }
  for my $priv (@{$cd->{admin}}, @{$cd->{user}}, @{$cd->{audit}}) { $special_roles->{"PVE${cat}Admin"}->{$priv}=1; $special_roles->{"PVEAdmin"}->{$priv}=1; }
  if (scalar(@{$cd->{user}})) { for my $priv (@{$cd->{user}}, @{$cd->{audit}}) { $special_roles->{"PVE${cat}User"}->{$priv}=1; } }
  for my $priv (@{$cd->{audit}}) { $special_roles->{"PVEAuditor"}->{$priv}=1; }
}
delete $special_roles->{"PVEAdmin"}->{"Mapping.Modify"};
$special_roles->{"PVETemplateUser"} = { 'VM.Clone' => 1, 'VM.Audit' => 1 };
print "privs: ", join(",", sort keys %$valid_privs), "\n";
for my $r (sort keys %$special_roles) { print "role $r: ", join(",", sort keys %{$special_roles->{$r}}), "\n"; }
