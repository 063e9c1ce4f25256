# Strict check of Roster feeds with ruby-icalendar (Debian's ruby-icalendar), in strict mode:
# a property the RFC does not allow in a component (COMMENT in a VTIMEZONE, RFC 5545 3.6.5) or a
# malformed value raises instead of being kept as a custom property.
# Usage: ruby strict_parse.rb FILE.ics...  ->  one line "FILE: N events" each; exit 1 on the first error.
require 'icalendar'

Icalendar.logger.level = Logger::FATAL

ARGV.each do |path|
  begin
    calendars = File.open(path, 'r:UTF-8') { |io| Icalendar::Parser.new(io, true).parse }
    raise 'no calendar in the file' if calendars.size != 1
    calendar = calendars.first
    raise 'a required property is missing or repeated' unless calendar.valid?(true)
    (calendar.events + calendar.timezones).each do |component|
      raise "#{component.name} is not valid" unless component.valid?(true)
    end
    puts "#{path}: #{calendar.events.size} events"
  rescue StandardError, ScriptError => e
    warn "#{path}: #{e.class}: #{e.message.lines.first&.strip}"
    exit 1
  end
end
