#!/usr/bin/perl
# Writes a tiny GeoIP2-City-shaped MaxMind database for the tests, with MaxMind's own writer
# (Debian libmaxmind-db-writer-perl). Usage: make_test_mmdb.pl OUT.mmdb
#
# Networks (documentation and loopback ranges, so nothing real is claimed):
#   203.0.113.0/24  Sydney, AU        (southern hemisphere, Australia/Sydney)
#   198.51.100.0/24 Seattle, US       (metro code 819, America/Los_Angeles)
#   192.0.2.0/24    Berlin, DE        (Europe/Berlin)
#   127.0.0.0/8     Tokyo, JP         (Asia/Tokyo; what tests connecting over loopback see)
#   2001:db8::/32   Toronto, CA       (America/Toronto)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb\n";

my %types = (
    city         => 'map',
    country      => 'map',
    location     => 'map',
    names        => 'map',
    postal       => 'map',
    subdivisions => [ 'array', 'map' ],
    iso_code     => 'utf8_string',
    en           => 'utf8_string',
    code         => 'utf8_string',
    latitude     => 'double',
    longitude    => 'double',
    time_zone    => 'utf8_string',
    metro_code   => 'uint16',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => 'GeoIP2-City',
    languages                => ['en'],
    description              => { en => 'personalization-server test database' },
    map_key_type_callback    => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,
);

sub place {
    my (%p) = @_;
    my %record = (
        country  => { iso_code => $p{country}, names => { en => $p{country_name} } },
        city     => { names => { en => $p{city} } },
        postal   => { code => $p{postal} },
        location => { latitude => $p{lat}, longitude => $p{lon}, time_zone => $p{tz} },
        subdivisions => [ { iso_code => $p{region}, names => { en => $p{region_name} } } ],
    );
    $record{location}{metro_code} = $p{metro} if defined $p{metro};
    return \%record;
}

$tree->insert_network('203.0.113.0/24', place(country => 'AU', country_name => 'Australia', region => 'NSW',
    region_name => 'New South Wales', city => 'Sydney', postal => '2000', lat => -33.86785, lon => 151.20732,
    tz => 'Australia/Sydney'));
$tree->insert_network('198.51.100.0/24', place(country => 'US', country_name => 'United States', region => 'WA',
    region_name => 'Washington', city => 'Seattle', postal => '98101', lat => 47.6062, lon => -122.33207,
    tz => 'America/Los_Angeles', metro => 819));
$tree->insert_network('192.0.2.0/24', place(country => 'DE', country_name => 'Germany', region => 'BE',
    region_name => 'Land Berlin', city => 'Berlin', postal => '10115', lat => 52.52, lon => 13.405,
    tz => 'Europe/Berlin'));
$tree->insert_network('127.0.0.0/8', place(country => 'JP', country_name => 'Japan', region => '13',
    region_name => 'Tokyo', city => 'Tokyo', postal => '100-0001', lat => 35.6895, lon => 139.69171,
    tz => 'Asia/Tokyo'));
$tree->insert_network('2001:db8::/32', place(country => 'CA', country_name => 'Canada', region => 'ON',
    region_name => 'Ontario', city => 'Toronto', postal => 'M5H', lat => 43.70011, lon => -79.4163,
    tz => 'America/Toronto'));

open my $fh, '>:raw', $out or die "cannot write $out: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot write $out: $!\n";
